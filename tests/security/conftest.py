from tests.security import fixtures

pki, ec_pki, now = fixtures.pki, fixtures.ec_pki, fixtures.now
