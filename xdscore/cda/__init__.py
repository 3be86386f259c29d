"""The French CDA R2 header: XDS metadata derived from it, and the CI-SIS "structuration minimale" checks.

- `header`: reading the header (the ClinicalDocument, plain or inside a self-presenting stylesheet), times,
  HL7 v2 data types (XCN, XON, XPN) built from CDA persons and organisations.
- `metadata`: DocumentEntry and SubmissionSet of a CDA (CI-SIS Volet Partage de Documents de Santé, the
  CDA -> XDS table; ITI TF-3 4.2.3.2, 4.2.3.3).
- `structure`: the structuration minimale rules, each problem with its XPath.
- `tables`: the ANS correspondence tables (type -> class, templateId -> formatCode) as data.
Pure: bytes or parsed elements in, typed values out; no I/O.
"""
