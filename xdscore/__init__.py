"""Shared XDS.b protocol core: vocabulary, metadata model, ebRIM binding, rules and codecs. No I/O."""
