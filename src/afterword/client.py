"""A client of the afterword HTTP API: what the CLI's server commands are built on.

Owner requests are signed with the owner key over canonical JSON that quotes a one-time
nonce from the server, so a captured request can never be replayed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from afterword import __version__
from afterword.crypto.keys import OwnerKey
from afterword.crypto.request import sign_request
from afterword.errors import AfterwordError


class ServerError(AfterwordError):
    """The server refused the request (4xx/5xx), with its own explanation."""

    def __init__(
        self, message: str, hint: str = "", status: int = 0, body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.body = body or {}  # the server's JSON answer (a stale check-in's ``counter``)


class Client:
    def __init__(self, server: str, timeout: float = 60.0) -> None:
        if "://" not in server:
            raise AfterwordError(
                f"the server address {server!r:.80} has no scheme",
                f"add http:// or https:// (e.g. https://{server:.60}, or http:// for a "
                "server on this machine)",
            )
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            timeout=timeout,
            headers={"User-Agent": f"afterword-cli/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise AfterwordError(
                f"cannot reach the server at {self.server} ({exc.__class__.__name__})",
                "check --server and that the server is running",
            ) from exc
        if response.status_code >= 400:
            body: dict[str, Any] = {}
            try:
                body = response.json()
                message, hint = str(body.get("error")), str(body.get("hint") or "")
            except (ValueError, AttributeError):
                body, message, hint = {}, f"HTTP {response.status_code}", ""
            raise ServerError(f"the server refused: {message}", hint, response.status_code, body)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def well_known(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/.well-known/afterword")
        return result

    def arm(
        self,
        bundle: Path,
        *,
        policy: dict[str, Any],
        contacts: dict[str, Any],
        server_custodians: list[str],
        password: str | None = None,
        totp: bool = False,
        duress_key: str | None = None,
        duress_password: str | None = None,
        servers: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Upload a sealed bundle (the dossier streamed; ciphertext only) and arm it.
        ``servers``: the signed roster of the switch's servers, when it has several."""
        names = ("manifest.json", "notice.json", "custodians.json", "dossier.age")
        for name in names:
            if not (bundle / name).is_file():
                raise AfterwordError(f"{bundle / name} is missing", "pass the folder seal made")
        handles = [open(bundle / name, "rb") for name in names]  # noqa: SIM115
        try:
            files: list[tuple[str, tuple[str, Any, str]]] = [
                (name.split(".")[0], (name, handle, "application/octet-stream"))
                for name, handle in zip(names, handles, strict=True)
            ]
            for label in server_custodians:
                envelope = bundle / "shares" / f"{label}.age"
                if not envelope.is_file():
                    raise AfterwordError(
                        f"{envelope} not found",
                        "--server-custodian names a custodian sealed for the server's key",
                    )
                files.append(("envelopes", (f"{label}.age", envelope.read_bytes(), "x")))
            if servers is not None:
                roster = json.dumps(servers).encode()
                files.append(("servers", ("servers.json", roster, "application/json")))
            data = {"policy": json.dumps(policy), "contacts": json.dumps(contacts)}
            if password is not None:
                data["password"] = password
                data["totp"] = "true" if totp else "false"
            if duress_key is not None:
                data["duress_key"] = duress_key
            if duress_password is not None:
                data["duress_password"] = duress_password
            result: dict[str, Any] = self._call("POST", "/switches", files=files, data=data)
            return result
        finally:
            for handle in handles:
                handle.close()

    def owner(
        self, switch: str, owner: OwnerKey, action: str, counter: int, **extra: Any
    ) -> dict[str, Any]:
        """One signed owner request, numbered ``counter`` (the key file's, see
        ``crypto/request.py``), over a nonce this server just issued. Whatever the nonce
        says of its own expiry is not checked against this machine's clock: an owner whose
        clock is wrong must still be able to abort (a peer bounds a relayed request by the
        stated expiry and the owner's order; docs/federation.md)."""
        nonce = self._call("POST", f"/switches/{switch}/challenge")["nonce"]
        signed = sign_request(owner.signing, switch, action, nonce, counter, **extra)
        result: dict[str, Any] = self._call("POST", f"/switches/{switch}/owner", json=signed)
        return result

    def signed_checkin(self, switch: str, checkin: dict[str, Any]) -> dict[str, Any]:
        """Send a signed check-in (``checkin/1``); one not newer than the server's highest
        is a ``ServerError`` of status 409 whose ``body["counter"]`` is that highest."""
        result: dict[str, Any] = self._call("POST", f"/switches/{switch}/checkins", json=checkin)
        return result

    def checkin_password(self, switch: str, password: str, code: str | None) -> dict[str, Any]:
        body = {"password": password, "code": code}
        result: dict[str, Any] = self._call("POST", f"/switches/{switch}/checkin", json=body)
        return result

    def submit_share(self, switch: str, mnemonic: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/switches/{switch}/shares", json={"mnemonic": mnemonic}
        )
        return result

    def password_action(
        self, switch: str, password: str, code: str | None, action: str, **extra: Any
    ) -> dict[str, Any]:
        body = {**extra, "password": password, "code": code, "action": action}
        result: dict[str, Any] = self._call("POST", f"/switches/{switch}/act", json=body)
        return result

    def custodian(self, switch: str, code: str, action: str) -> dict[str, Any]:
        body = {"code": code, "action": action}
        result: dict[str, Any] = self._call("POST", f"/switches/{switch}/custodian", json=body)
        return result

    def canary_checkin(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/canary/{token}/checkin")
        return result
