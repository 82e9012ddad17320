"""OAuth 2.0 on the org: the connected app and user of the demo, and the token
endpoint's grants (JWT bearer, client credentials, refresh token), sessions and
the identity URL.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.sandbox.core import HttpError, Request, Response, SandboxApp, json_response
from connectors.sandbox.salesforce.schema import sf_error

DEMO_CONSUMER_KEY = "3MVG9demo.clarity.connect.sandbox"


DEMO_CLIENT_SECRET = "demo-client-secret-0123456789"  # noqa: S105 (public demo value)


DEMO_USERNAME = "integration@clarity-demo.example"


DEMO_REFRESH_TOKEN = "5Aep861demo.refresh.token"  # noqa: S105 (public demo value)


DEMO_PRIVATE_KEY = """\
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCnzBwf/HeQG1C4
5kXE6yFL+IJ2H8ENnl4tpqTVMyeM868n/fn4LuNpu1MEGMKtFHwdPr8f/HDmUApI
qUUlBsUS+TNVs4ccECJtetTLkJ20KvFgay3D3O+jtRGXWZz6csSunL2t4/OErysW
CrUnafTqIiBQ9SpTFM2jjxygLEa1MeyQsuOTZJxOGjHbLawi+1SUSqIW6Ey8JoQK
RXm2qqihmagkB8VQ0p4udiP6ET+f4+k5mp2CaCsabYXCtMFqGM7vVZJf4WbCoGdK
D6N2MSBy0MJve8wULGIcwjL+52qV+3p2dxDcc7o8SsWSTjcNRXqkJHCUWDYKqkma
rLp0c9a7AgMBAAECggEACxa/CRIbKKfVdtKo67GKOsYKgRnqHSdJHAU2QWynAXad
LaxoF5Gpr7QUcWHdg6il5xzdbpS1NVM2ysR88Ex5O57CWLiLhjw+ujNy2p0M/voT
h4atuJLiN1Rg/DqM2DQ7cTqkglhdIHifBU7h19/1sn9c2VzKVkE6scNkZeVnKtQt
Y+2WPFefJMJIcDZpZp6+WzPZ5PmcAIHzZs6deikF1DgBnsO0i3GUVFHQ5GHDvbhd
hFs9G73r1PmjiAxaARo51XtmJf5vKN+FgxJkx1Y71+5sUlMPzzz3DEAH9BmMf4/X
56plJFxzYl1JVB7JwGiyL3jOZ6FbB76ltklhsGvYmQKBgQDRN5DfteKlocum5if7
7fxq63tUDxyNNGR7j5h3LB71vNCVl/f7uaBBeiKw73G6u+kggPaITV5Ux7gl4FWl
SjZUa62T1fV4P+XuiJ6VyXYShwipSsZkysO7NSUHZ2UgtDZZcsWTwweyHRMiAG4Z
PVXG6QQ8w06rB+BgXfpBkyTAZwKBgQDNUYJaSVSZMxvQ2n3C0wtEkmUy6OlNzFOu
tRMDy7aNpBIzEgq+tK9Ft5GARSk8N5y6X9CflPhdv1KS6eKfrH2kjtBjLYAMlC8w
T/VY/sXcUatbPezmDqsDojcyFgf1DedxjLCN5o2t/fVlbCg8mKSobmczBbejariQ
sjMnQzhyjQKBgB4ffgB307Y9YXEaWk9vqJRMa2li851xGbagqjceZybClNW1F8Nq
qqRCzZPkJd/ZBmvjpZtiaF6UkvMBJdOyp7fn+Qn8GGfD63s4uHygkRuBzcFyPrZs
a1odAMPcIzdeOyUN3Vy1C/qdLRAMN83ygtMs4atOA5mkfK3jWhDu+q+pAoGAddLl
tDxKwRPUTZlk/C2yVKqSSpHgeNXd2+9rtwzreQMDsq0S33e+8YozhGGsFTNwzH95
sGqD0QCfOVHgzHLnM00FhzSwPAe5wMbR7D1gfFuds2GpFiiquQ4ZELQV4uoUvFPZ
acU53vRTI93ahVOvgjzBGkWYqb3vppGsy0ZHGW0CgYB1R0v9xMfdMnX+jRcbLnxq
urrmcIz6lspTdnedRCYCu1Q7HDrXOcwywKRcHzbQUZtu36ugRy5lD4uLbahbdbbv
0SRFRnJXScGNdPxtCNAAVLtkhteRSjCx4pRnoR+DOxryMUIKC0Pj9hcrIBuZ0LIq
bxOYYsS/Gt02K0Yzu8oMVQ==
-----END PRIVATE KEY-----

"""


LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


ORG_ID = "00D5g000004ClAR"


def _oauth_error(code: str, description: str) -> NoReturn:
    raise HttpError(json_response({"error": code, "error_description": description}, 400))


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class SalesforceAuth(SandboxApp):
    """OAuth 2.0 on the org: the token endpoint's three grants, sessions, identity."""

    apps: dict[str, dict[str, Any]]
    users: dict[str, dict[str, Any]]
    refresh_tokens: dict[str, tuple[str, str]]
    sessions: dict[str, dict[str, Any]]

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)

    def _session(self, request: Request) -> dict[str, Any]:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        session = self.live_session(token) if scheme in ("Bearer", "OAuth") else None
        if session is None:
            raise sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return session

    def live_session(self, token: str) -> dict[str, Any] | None:
        """The session an access token opened, kept alive by this use; None when it
        never existed, was revoked or sat unused past ``session_timeout`` (then it ends).
        REST calls and the Pub/Sub API (its ``accesstoken`` metadata) both ask here."""
        session = self.sessions.get(token)
        timeout = float(self.option("session_timeout", 7200))
        if session is None or self.now() - session["last_used"] > timeout:
            self.sessions.pop(token, None)
            return None
        session["last_used"] = self.now()
        return session

    def token(self, request: Request) -> Response:
        form = request.form()
        grant = form.get("grant_type", "")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            app_key, username = self._verify_jwt(form.get("assertion", ""), request)
        elif grant == "client_credentials":
            app_key = self._client(form, request)
            username = self.apps[app_key].get("run_as") or _oauth_error(
                "invalid_grant", "no client credentials user enabled"
            )
        elif grant == "refresh_token":
            app_key = self._client(form, request)
            owner = self.refresh_tokens.get(form.get("refresh_token", ""))
            if owner is None or owner[0] != app_key:
                _oauth_error("invalid_grant", "expired access/refresh token")
            username = owner[1]
        else:
            _oauth_error("unsupported_grant_type", "grant type not supported")
        token = f"{ORG_ID}!{uuid.uuid4().hex}{uuid.uuid4().hex}"
        self.sessions[token] = {"user": username, "app": app_key, "last_used": self.now()}
        issued_at = str(int(self.now() * 1000))
        identity = f"{request.base_url}/id/{ORG_ID}/{self.users[username]['id']}"
        signature = base64.b64encode(f"{identity}{issued_at}".encode()).decode()
        body = {
            "access_token": token,
            "instance_url": request.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
            "scope": "api",
        }
        return json_response(body)

    def _client(self, form: Mapping[str, str], request: Request) -> str:
        """The connected app, its secret in the form or in HTTP Basic (RFC 6749 2.3.1).

        [O] simple-salesforce's client-credentials login sends ``Authorization: Basic``
        (simple-salesforce/simple-salesforce, simple_salesforce/login.py) and real orgs
        accept it; the connector sends both in the form, as Salesforce's guide shows [P].
        """
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret")
        scheme, _, encoded = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(encoded, validate=True).decode()
            except ValueError:
                _oauth_error("invalid_client", "invalid client credentials")
            client_id, _, client_secret = pair.partition(":")
        app = self.apps.get(client_id)
        if app is None:
            _oauth_error("invalid_client_id", "client identifier invalid")
        if app.get("client_secret") != client_secret:
            _oauth_error("invalid_client", "invalid client credentials")
        return client_id

    def _verify_jwt(self, assertion: str, request: Request) -> tuple[str, str]:
        """Signature, issuer, subject, audience and expiry, with Salesforce's wording."""
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_unb64(header_b64))
            claims = json.loads(_unb64(claims_b64))
            signature = _unb64(signature_b64)
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError("a JWT header and claims are JSON objects")
        except ValueError:
            _oauth_error("invalid_grant", "invalid assertion")
        issuer = claims.get("iss")
        app = self.apps.get(issuer) if isinstance(issuer, str) else None
        if header.get("alg") != "RS256" or app is None:
            _oauth_error("invalid_client_id", "client identifier invalid")
        public_key = serialization.load_pem_public_key(app["public_key"].encode())
        assert isinstance(public_key, rsa.RSAPublicKey)
        try:
            public_key.verify(
                signature,
                f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            _oauth_error("invalid_grant", "invalid assertion")
        audiences = (*LOGIN_AUDIENCES, request.base_url)
        if str(claims.get("aud", "")).rstrip("/") not in audiences:
            _oauth_error("invalid_grant", "audience is invalid")
        # [O] simple-salesforce sends ``exp`` as a string of seconds (login.py) and
        # Salesforce accepts it; a number is what RFC 7519 asks for.
        exp = claims.get("exp")
        if isinstance(exp, str) and exp.isdigit():
            exp = int(exp)
        if isinstance(exp, bool) or not isinstance(exp, int) or exp < self.now():
            _oauth_error("invalid_grant", "expired authorization code")
        if not isinstance(claims.get("sub"), str) or claims["sub"] not in self.users:
            _oauth_error("invalid_grant", "user hasn't approved this consumer")
        return claims["iss"], claims["sub"]

    def identity(self, request: Request) -> Response:
        username = self._session(request)["user"]
        user = self.users[username]
        rest = f"{request.base_url}/services/data/v{{version}}/"
        return json_response(
            {
                "id": f"{request.base_url}/id/{ORG_ID}/{user['id']}",
                "asserted_user": True,
                "user_id": user["id"],
                "organization_id": ORG_ID,
                "username": username,
                "display_name": user["display_name"],
                "email": username,
                "active": True,
                "user_type": "STANDARD",
                "urls": {
                    "rest": rest,
                    "sobjects": rest + "sobjects/",
                    "query": rest + "query/",
                    "limits": rest + "limits/",
                },
            }
        )

    def expire_sessions(self, request: Request) -> Response:
        """Test hook: every session ends, as after the org's session timeout."""
        count = len(self.sessions)
        self.sessions.clear()
        return json_response({"expired": count})
