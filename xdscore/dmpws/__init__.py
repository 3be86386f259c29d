"""The DMP's own web services (DMPi "TD" transactions, dmp-services.md §2a): their messages, read and
written without I/O. `vocabulary` (namespaces, actions, codes), `gdp` (the HL7v3 patient-record messages
of `/patients`), `habilitations` (`/habilitations`), `patient_list` (`/patientsSpecific`).
"""
