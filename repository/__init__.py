"""IHE XDS.b Document Repository: ITI-41 Provide and Register Document Set-b, ITI-43 Retrieve Document Set.

A service of its own (port, configuration, blob store, small SQL store); it reaches the registry only
through ITI-42 over HTTP, as any document source would. See docs/repository.md.
"""
