"""The REST API: token-authenticated, checked against the admin roles' permissions."""
