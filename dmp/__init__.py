"""The DMP actor (dmp-services.md §2a): the patient record store and the DMP's own web services (TD0.x,
TD1.x over SOAP with HL7v3 and the habilitation messages), the patient's choices, served in the
registry's process under `/si-dmp-server/v2/services/...` when the registry runs the `dmp` profile.
It reaches the registry's store only through `dmp.ports.RegistryFacts`. docs/dmp-services.md.
"""
