"""Wire-level vocabulary shared by the server, the client and the tests."""
