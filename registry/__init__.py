"""IHE XDS.b Document Registry: ITI-42, ITI-18, ITI-8 (and ITI-57 later), over a SQL store."""
