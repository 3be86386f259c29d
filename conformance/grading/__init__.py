"""Graders: one small function per `Expected*` element of a test step, each returning its failures.

Semantics follow the NIST toolkit (BasicTransaction.eval_expected_status / scanResponseForErrors,
RegistryResponseParser, engine/Validator.run_test_assertion, RetrieveB.validate_retrieve), made strict:
a step passes only when every grader returns no failure, and an element the kit does not know is a failure
"unsupported: <element>". One module per family:

- `status`: the response element and its status, ExpectedStatus, ExpectedErrorMessage, ExpectedErrorCode
  (ITI TF-3 4.2.4; ebRS 3.0 rs:RegistryResponse);
- `contents`: ExpectedContents over the returned metadata (ITI TF-2a 3.18);
- `assertions`: XPath `Assertions` over the section log, and the XPath helpers `Report` / `UseXPath` use;
- `retrieve`: the documents of a RetrieveDocumentSetResponse (ITI TF-2b 3.43).

Responses are read namespace-strictly: an element in another namespace than the one ebRS 3.0 / IHE
defines for it is not the element, so a response in the wrong namespace fails its step.
"""
