"""IAM credentials: access keys, login profiles and the password policy, account
aliases, virtual MFA devices, server certificates and OIDC providers."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import Any

from ...accounts import KEY_KIND, new_access_key_id, new_secret_access_key
from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...iam import mfa
from ...iam import records as R
from .common import (
    already_exists,
    check_name,
    check_path,
    check_tags,
    delete_conflict,
    dt,
    invalid_input,
    limit_exceeded,
    no_such_entity,
    page,
    validation,
)

MAX_KEYS = 2
DEFAULT_PASSWORD_POLICY = {"MinimumPasswordLength": 8}


def _hash_password(password: str, salt: bytes | None = None) -> dict[str, str]:
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 100_000)
    return {"salt": salt.hex(), "hash": digest.hex()}


class CredentialsMixin:
    # ------------------------------------------------------------ access keys

    def create_access_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            user = self._user(txn, ctx, params.get("UserName"))
            if len(user["keys"]) >= MAX_KEYS:
                raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}")
            key_id, secret = new_access_key_id("AKIA"), new_secret_access_key()
            now = ctx.clock.time()
            txn.put(KEY_KIND, key_id, {
                "secret": secret, "account": ctx.account_id, "kind": "user", "arn": user["arn"],
                "user_id": user["id"], "name": user["name"], "status": "Active", "created": now,
            })
            user["keys"].append(key_id)
            self._put(txn, ctx, "user", user)
        return {"AccessKey": {"UserName": user["name"], "AccessKeyId": key_id, "Status": "Active",
                              "SecretAccessKey": secret, "CreateDate": dt(now)}}

    def _user_key(self, txn: Any, ctx: RequestContext, user: dict[str, Any], key_id: str) -> dict[str, Any]:
        doc = txn.get(KEY_KIND, key_id) if key_id in user["keys"] else None
        if doc is None:
            raise no_such_entity(f"The Access Key with id {key_id} cannot be found.")
        return doc

    def list_access_keys(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        read = ctx.store.read
        user = self._user(read, ctx, params.get("UserName"))
        items = []
        for key_id in user["keys"]:
            doc = read.get(KEY_KIND, key_id)
            if doc is not None:
                items.append({"UserName": user["name"], "AccessKeyId": key_id, "Status": doc.get("status", "Active"), "CreateDate": dt(doc.get("created"))})
        return page(items, params, "AccessKeyMetadata")

    def update_access_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        status = params["Status"]
        if status not in ("Active", "Inactive"):
            raise validation(f"1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]")
        with ctx.store.transaction() as txn:
            user = self._user(txn, ctx, params.get("UserName"))
            doc = self._user_key(txn, ctx, user, params["AccessKeyId"])
            doc["status"] = status
            txn.put(KEY_KIND, params["AccessKeyId"], doc)
        return {}

    def delete_access_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            user = self._user(txn, ctx, params.get("UserName"))
            self._user_key(txn, ctx, user, params["AccessKeyId"])
            txn.delete(KEY_KIND, params["AccessKeyId"])
            user["keys"].remove(params["AccessKeyId"])
            self._put(txn, ctx, "user", user)
        return {}

    def get_access_key_last_used(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from ...iam.authorizer import iam_state

        iam_state(self.runtime).audit.flush()
        read = ctx.store.read
        doc = read.get(KEY_KIND, params["AccessKeyId"])
        if doc is None or doc.get("account") != ctx.account_id:
            raise ServiceError("AccessDenied", "The access key does not belong to this account.", 403)
        used = read.get(R.KEY_USED, params["AccessKeyId"])
        last = {"ServiceName": "N/A", "Region": "N/A"}
        if used:
            last = {"LastUsedDate": dt(used["date"]), "ServiceName": used["service"] or "N/A", "Region": used["region"] or "N/A"}
        out: dict[str, Any] = {"AccessKeyLastUsed": last}
        if doc.get("kind") == "user":
            out["UserName"] = doc["name"]
        return out

    # ------------------------------------------------------------ passwords

    def _password_policy(self, read: Any, ctx: RequestContext) -> dict[str, Any] | None:
        settings = read.get(R.ACCOUNT, "settings", ctx.account_id) or {}
        return settings.get("password_policy")

    def _check_password(self, ctx: RequestContext, password: Any, user: dict[str, Any] | None = None) -> None:
        if not isinstance(password, str) or not password or len(password) > 128:
            raise validation("Password must be between 1 and 128 characters.")
        policy = self._password_policy(ctx.store.read, ctx) or DEFAULT_PASSWORD_POLICY
        problems = []
        if len(password) < policy.get("MinimumPasswordLength", 8):
            problems.append(f"Password should have at least {policy.get('MinimumPasswordLength', 8)} characters")
        if policy.get("RequireSymbols") and not re.search(r"[!@#$%^&*()_+\-=\[\]{}|']", password):
            problems.append("Password should have at least one symbol")
        if policy.get("RequireNumbers") and not re.search(r"\d", password):
            problems.append("Password should have at least one number")
        if policy.get("RequireUppercaseCharacters") and not re.search(r"[A-Z]", password):
            problems.append("Password should have at least one uppercase letter")
        if policy.get("RequireLowercaseCharacters") and not re.search(r"[a-z]", password):
            problems.append("Password should have at least one lowercase letter")
        reuse = policy.get("PasswordReusePrevention")
        if reuse and user and user.get("login"):
            for old in ([user["login"]] + user["login"].get("history", []))[:reuse]:
                if hmac.compare_digest(_hash_password(password, bytes.fromhex(old["salt"]))["hash"], old["hash"]):
                    problems.append("Password should not be one of your previous passwords")
                    break
        if problems:
            raise ServiceError("PasswordPolicyViolation", "; ".join(problems))

    def create_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            user = self._user(txn, ctx, params.get("UserName"))
            if user.get("login"):
                raise already_exists(f"Login Profile for user {user['name']} already exists.")
            self._check_password(ctx, params.get("Password"))
            now = ctx.clock.time()
            user["login"] = {**_hash_password(params["Password"]), "created": now, "changed": now,
                             "reset_required": bool(params.get("PasswordResetRequired")), "history": []}
            self._put(txn, ctx, "user", user)
        return {"LoginProfile": {"UserName": user["name"], "CreateDate": dt(now), "PasswordResetRequired": user["login"]["reset_required"]}}

    def get_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._user(ctx.store.read, ctx, params.get("UserName"))
        if not user.get("login"):
            raise no_such_entity(f"Login Profile for User {user['name']} cannot be found.")
        login = user["login"]
        return {"LoginProfile": {"UserName": user["name"], "CreateDate": dt(login["created"]), "PasswordResetRequired": login["reset_required"]}}

    def update_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            user = self._user(txn, ctx, params.get("UserName"))
            if not user.get("login"):
                raise no_such_entity(f"Login Profile for User {user['name']} cannot be found.")
            if params.get("Password") is not None:
                self._check_password(ctx, params["Password"], user)
                old = {k: user["login"][k] for k in ("salt", "hash")}
                user["login"].update(_hash_password(params["Password"]))
                user["login"]["history"] = ([old] + user["login"].get("history", []))[:24]
                user["login"]["changed"] = ctx.clock.time()
            if params.get("PasswordResetRequired") is not None:
                user["login"]["reset_required"] = bool(params["PasswordResetRequired"])
            self._put(txn, ctx, "user", user)
        return {}

    def delete_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            user = self._user(txn, ctx, params.get("UserName"))
            if not user.get("login"):
                raise no_such_entity(f"Login Profile for User {user['name']} cannot be found.")
            user["login"] = None
            self._put(txn, ctx, "user", user)
        return {}

    def change_password(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if ctx.principal.kind != "user":
            raise invalid_input("Only IAM users can change their own password.")
        with ctx.store.transaction() as txn:
            user = self._user(txn, ctx, None)
            login = user.get("login")
            if not login:
                raise no_such_entity(f"Login Profile for User {user['name']} cannot be found.")
            if not hmac.compare_digest(_hash_password(params["OldPassword"], bytes.fromhex(login["salt"]))["hash"], login["hash"]):
                raise invalid_input("The old password is incorrect.")
            self._check_password(ctx, params["NewPassword"], user)
            old = {k: login[k] for k in ("salt", "hash")}
            login.update(_hash_password(params["NewPassword"]))
            login["history"] = ([old] + login.get("history", []))[:24]
            login["changed"] = ctx.clock.time()
            login["reset_required"] = False
            self._put(txn, ctx, "user", user)
        return {}

    def update_account_password_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        length = params.get("MinimumPasswordLength", 8)
        if not 6 <= length <= 128:
            raise validation(f"1 validation error detected: Value '{length}' at 'minimumPasswordLength' failed to satisfy constraint: Member must have value greater than or equal to 6")
        reuse = params.get("PasswordReusePrevention")
        if reuse is not None and not 1 <= reuse <= 24:
            raise validation(f"1 validation error detected: Value '{reuse}' at 'passwordReusePrevention' failed to satisfy constraint: Member must have value between 1 and 24")
        age = params.get("MaxPasswordAge")
        if age is not None and not 1 <= age <= 1095:
            raise validation(f"1 validation error detected: Value '{age}' at 'maxPasswordAge' failed to satisfy constraint: Member must have value between 1 and 1095")
        policy = {"MinimumPasswordLength": length}
        for key in ("RequireSymbols", "RequireNumbers", "RequireUppercaseCharacters", "RequireLowercaseCharacters",
                    "AllowUsersToChangePassword", "HardExpiry"):
            policy[key] = bool(params.get(key, False))
        if reuse:
            policy["PasswordReusePrevention"] = reuse
        if age:
            policy["MaxPasswordAge"] = age
        with ctx.store.transaction() as txn:
            settings = txn.get(R.ACCOUNT, "settings", ctx.account_id) or {}
            settings["password_policy"] = policy
            txn.put(R.ACCOUNT, "settings", settings, ctx.account_id)
        return {}

    def get_account_password_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        policy = self._password_policy(ctx.store.read, ctx)
        if policy is None:
            raise no_such_entity(f"The Password Policy with domain name {ctx.account_id} cannot be found.")
        out = dict(policy)
        out["ExpirePasswords"] = bool(policy.get("MaxPasswordAge"))
        return {"PasswordPolicy": out}

    def delete_account_password_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            settings = txn.get(R.ACCOUNT, "settings", ctx.account_id) or {}
            if not settings.get("password_policy"):
                raise no_such_entity(f"The account policy with name PasswordPolicy cannot be found.")
            settings["password_policy"] = None
            txn.put(R.ACCOUNT, "settings", settings, ctx.account_id)
        return {}

    # ------------------------------------------------------------ account aliases

    def create_account_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        alias = params["AccountAlias"]
        if not isinstance(alias, str) or not re.fullmatch(r"[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]", alias):
            raise validation(f"1 validation error detected: Value '{alias}' at 'accountAlias' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-z0-9]([a-z0-9]|-(?!-)){{1,61}}[a-z0-9]$")
        with ctx.store.transaction() as txn:
            for scope in list(txn.scopes(R.ACCOUNT)):
                other = txn.get(R.ACCOUNT, "settings", scope) or {}
                if scope != ctx.account_id and alias in other.get("aliases", []):
                    raise already_exists(f"The account alias {alias} already exists.")
            settings = txn.get(R.ACCOUNT, "settings", ctx.account_id) or {}
            settings["aliases"] = [alias]  # an account has at most one alias
            txn.put(R.ACCOUNT, "settings", settings, ctx.account_id)
        return {}

    def list_account_aliases(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        settings = ctx.store.read.get(R.ACCOUNT, "settings", ctx.account_id) or {}
        return page(settings.get("aliases", []), params, "AccountAliases")

    def delete_account_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            settings = txn.get(R.ACCOUNT, "settings", ctx.account_id) or {}
            if params["AccountAlias"] not in settings.get("aliases", []):
                raise no_such_entity(f"The account alias {params['AccountAlias']} cannot be found.")
            settings["aliases"] = []
            txn.put(R.ACCOUNT, "settings", settings, ctx.account_id)
        return {}

    # ------------------------------------------------------------ virtual MFA devices

    def _mfa_shape(self, ctx: RequestContext, device: dict[str, Any], *, secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"SerialNumber": device["serial"]}
        if secret:
            out["Base32StringSeed"] = device["seed"].encode()
            out["QRCodePNG"] = mfa.qr_png(mfa.otpauth_uri(device["name"], self._account_label(ctx), device["seed"]))
        if device.get("user"):
            user = ctx.store.read.get(R.USER, device["user"], ctx.account_id)
            if user is not None:
                out["User"] = self._user_shape(user)
            out["EnableDate"] = dt(device["enabled"])
        if device.get("tags"):
            out["Tags"] = device["tags"]
        return out

    def _account_label(self, ctx: RequestContext) -> str:
        """The account name in the otpauth URI: the account alias, else the account id."""
        settings = ctx.store.read.get(R.ACCOUNT, "settings", ctx.account_id) or {}
        aliases = settings.get("aliases") or []
        return aliases[0] if aliases else ctx.account_id

    def create_virtual_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_name(params["VirtualMFADeviceName"], "virtualMFADeviceName", 226)
        path = check_path(params.get("Path"))
        with ctx.store.transaction() as txn:
            if txn.exists(R.MFA, name, ctx.account_id):
                raise already_exists("MFADevice entity at the same path and name already exists.")
            device = {"name": name, "serial": f"arn:aws:iam::{ctx.account_id}:mfa{path}{name}", "seed": mfa.new_seed(),
                      "created": ctx.clock.time(), "user": None, "enabled": None, "tags": check_tags(params.get("Tags"))}
            txn.put(R.MFA, name, device, ctx.account_id)
        return {"VirtualMFADevice": self._mfa_shape(ctx, device, secret=True)}

    def _device(self, txn: Any, ctx: RequestContext, serial: str) -> dict[str, Any]:
        parsed = mfa.serial_parts(serial) if isinstance(serial, str) else None
        device = txn.get(R.MFA, parsed[1], ctx.account_id) if parsed and parsed[0] == ctx.account_id else None
        if device is None or device["serial"] != serial:
            raise no_such_entity(f"VirtualMFADevice with serial number {serial} doesn't exist.")
        return device

    def enable_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        import time

        code1, code2 = params["AuthenticationCode1"], params["AuthenticationCode2"]
        for member, code in (("authenticationCode1", code1), ("authenticationCode2", code2)):
            if not isinstance(code, str) or not re.fullmatch(r"\d{6}", code):
                raise validation(f"1 validation error detected: Value '{code}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]+ and have length 6")
        with ctx.store.transaction() as txn:
            user = self._user(txn, ctx, params.get("UserName"))
            device = self._device(txn, ctx, params["SerialNumber"])
            if device.get("user"):
                raise already_exists("MFA Device is already in use.")
            # two consecutive codes (RFC 6238 steps c and c+1), the second at most one step old or new
            now = time.time()
            current = int(now // mfa.STEP)
            step = None
            for c in range(current - 2, current + 1):
                if hmac.compare_digest(mfa.totp(device["seed"], c), code1) and hmac.compare_digest(mfa.totp(device["seed"], c + 1), code2):
                    step = c + 1
                    break
            if step is None:
                raise ServiceError("InvalidAuthenticationCode", "Authentication code for device is not valid.")
            device.update(user=user["name"], enabled=ctx.clock.time(), last_step=step)
            txn.put(R.MFA, device["name"], device, ctx.account_id)
            user["mfa"] = sorted(set(user.get("mfa", [])) | {device["serial"]})
            self._put(txn, ctx, "user", user)
        return {}

    def deactivate_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            device = self._device(txn, ctx, params["SerialNumber"])
            user = self._user(txn, ctx, params.get("UserName") or device.get("user"))
            if device.get("user") != user["name"]:
                raise no_such_entity(f"MFA Device with serial number {params['SerialNumber']} does not exist.")
            device.update(user=None, enabled=None)
            txn.put(R.MFA, device["name"], device, ctx.account_id)
            user["mfa"] = [s for s in user.get("mfa", []) if s != device["serial"]]
            self._put(txn, ctx, "user", user)
        return {}

    def delete_virtual_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            device = self._device(txn, ctx, params["SerialNumber"])
            if device.get("user"):
                raise delete_conflict("MFA device is still in use.")
            txn.delete(R.MFA, device["name"], ctx.account_id)
        return {}

    def get_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        device = self._device(ctx.store.read, ctx, params["SerialNumber"])
        if params.get("UserName") and device.get("user") != params["UserName"]:
            raise no_such_entity(f"MFA Device with serial number {params['SerialNumber']} does not exist.")
        out: dict[str, Any] = {"SerialNumber": device["serial"]}
        if device.get("user"):
            out["UserName"] = device["user"]
            out["EnableDate"] = dt(device["enabled"])
        return out

    def list_mfa_devices(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        read = ctx.store.read
        if params.get("UserName") or ctx.principal.kind == "user":
            users = [self._user(read, ctx, params.get("UserName"))]
        else:
            users = [d for _, d in read.scan(R.USER, ctx.account_id)]
        items = []
        for user in users:
            for serial in user.get("mfa", []):
                parsed = mfa.serial_parts(serial)
                device = read.get(R.MFA, parsed[1], ctx.account_id) if parsed else None
                if device:
                    items.append({"UserName": user["name"], "SerialNumber": serial, "EnableDate": dt(device["enabled"])})
        return page(items, params, "MFADevices")

    def list_virtual_mfa_devices(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        status = params.get("AssignmentStatus") or "Any"
        devices = [d for _, d in ctx.store.read.scan(R.MFA, ctx.account_id)]
        if status == "Assigned":
            devices = [d for d in devices if d.get("user")]
        elif status == "Unassigned":
            devices = [d for d in devices if not d.get("user")]
        return page([self._mfa_shape(ctx, d) for d in devices], params, "VirtualMFADevices")

    def resync_mfa_device(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        import time

        with ctx.store.transaction() as txn:
            device = self._device(txn, ctx, params["SerialNumber"])
            current = int(time.time() // mfa.STEP)
            for c in range(current - 10, current + 2):
                if mfa.totp(device["seed"], c) == params["AuthenticationCode1"] and mfa.totp(device["seed"], c + 1) == params["AuthenticationCode2"]:
                    device["last_step"] = c + 1
                    txn.put(R.MFA, device["name"], device, ctx.account_id)
                    return {}
        raise ServiceError("InvalidAuthenticationCode", "Authentication code for device is not valid.")

    # ------------------------------------------------------------ server certificates

    def upload_server_certificate(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        name = check_name(params["ServerCertificateName"], "serverCertificateName", 128)
        path = check_path(params.get("Path"))
        try:
            cert = x509.load_pem_x509_certificate(params["CertificateBody"].encode())
        except ValueError:
            raise ServiceError("MalformedCertificate", "Certificate body is malformed.") from None
        try:
            load_pem_private_key(params["PrivateKey"].encode(), password=None)
        except (ValueError, TypeError):
            raise ServiceError("MalformedCertificate", "The private key is malformed.") from None
        with ctx.store.transaction() as txn:
            if txn.exists(R.SERVER_CERT, name, ctx.account_id):
                raise already_exists(f"The Server Certificate with name {name} already exists.")
            doc = {"name": name, "id": R.new_id("ASCA"), "arn": f"arn:aws:iam::{ctx.account_id}:server-certificate{path}{name}",
                   "path": path, "uploaded": ctx.clock.time(), "expiration": cert.not_valid_after_utc.timestamp(),
                   "body": params["CertificateBody"], "chain": params.get("CertificateChain"), "tags": check_tags(params.get("Tags"))}
            txn.put(R.SERVER_CERT, name, doc, ctx.account_id)
        return {"ServerCertificateMetadata": self._cert_meta(doc)}

    @staticmethod
    def _cert_meta(doc: dict[str, Any]) -> dict[str, Any]:
        return {"Path": doc["path"], "ServerCertificateName": doc["name"], "ServerCertificateId": doc["id"], "Arn": doc["arn"],
                "UploadDate": dt(doc["uploaded"]), "Expiration": dt(doc["expiration"])}

    def _cert(self, read: Any, ctx: RequestContext, name: str) -> dict[str, Any]:
        doc = read.get(R.SERVER_CERT, name, ctx.account_id)
        if doc is None:
            raise no_such_entity(f"The Server Certificate with name {name} cannot be found.")
        return doc

    def get_server_certificate(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._cert(ctx.store.read, ctx, params["ServerCertificateName"])
        out = {"ServerCertificateMetadata": self._cert_meta(doc), "CertificateBody": doc["body"]}
        if doc.get("chain"):
            out["CertificateChain"] = doc["chain"]
        return {"ServerCertificate": out}

    def list_server_certificates(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("PathPrefix") or "/"
        docs = [self._cert_meta(d) for _, d in ctx.store.read.scan(R.SERVER_CERT, ctx.account_id) if d["path"].startswith(prefix)]
        return page(docs, params, "ServerCertificateMetadataList")

    def update_server_certificate(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._cert(txn, ctx, params["ServerCertificateName"])
            new_name = params.get("NewServerCertificateName")
            if params.get("NewPath"):
                doc["path"] = check_path(params["NewPath"], "newPath")
            if new_name and new_name != doc["name"]:
                check_name(new_name, "newServerCertificateName", 128)
                if txn.exists(R.SERVER_CERT, new_name, ctx.account_id):
                    raise already_exists(f"The Server Certificate with name {new_name} already exists.")
                txn.delete(R.SERVER_CERT, doc["name"], ctx.account_id)
                doc["name"] = new_name
            doc["arn"] = f"arn:aws:iam::{ctx.account_id}:server-certificate{doc['path']}{doc['name']}"
            txn.put(R.SERVER_CERT, doc["name"], doc, ctx.account_id)
        return {}

    def delete_server_certificate(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._cert(txn, ctx, params["ServerCertificateName"])
            txn.delete(R.SERVER_CERT, doc["name"], ctx.account_id)
        return {}

    # ------------------------------------------------------------ OIDC providers

    # An OIDC provider's signing keys (JWKS) are fetched from its URL when a token is
    # presented (``nimbus.iam.oidc``); the ``nimbus:jwks-uri`` tag points elsewhere.

    @staticmethod
    def _thumbprints(values: Any) -> list[str]:
        values = list(values or [])
        if len(values) > 5:
            raise validation("1 validation error detected: Value at 'thumbprintList' failed to satisfy constraint: Member must have length less than or equal to 5")
        for value in values:
            if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Fa-f]{40}", value):
                raise validation(f"1 validation error detected: Value '{value}' at 'thumbprintList' failed to satisfy constraint: Member must have length greater than or equal to 40")
        return [v.lower() for v in values]

    @staticmethod
    def _client_id(value: Any) -> str:
        if not isinstance(value, str) or not 1 <= len(value) <= 255:
            raise validation(f"1 validation error detected: Value '{value}' at 'clientID' failed to satisfy constraint: Member must have length between 1 and 255")
        return value

    def _forget_jwks(self, arn: str) -> None:
        from ...iam.authorizer import iam_state

        iam_state(self.runtime).jwks.forget(arn)

    def create_open_id_connect_provider(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        url = params["Url"]
        if not isinstance(url, str) or not url.startswith("https://") or len(url) > 255 or len(url) <= len("https://"):
            raise validation("Invalid Url: the URL must begin with https://")
        if "?" in url or "#" in url:
            raise validation("Invalid Url: the URL cannot contain a query string or a fragment")
        host = url[len("https://"):].rstrip("/")
        clients = list(dict.fromkeys(self._client_id(c) for c in params.get("ClientIDList") or []))
        if len(clients) > 100:
            raise limit_exceeded("Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100")
        thumbprints = self._thumbprints(params.get("ThumbprintList"))
        with ctx.store.transaction() as txn:
            if txn.exists(R.OIDC, host, ctx.account_id):
                raise already_exists(f"Provider with url {url} already exists.")
            if txn.count(R.OIDC, ctx.account_id) >= 100:
                raise limit_exceeded("Cannot exceed quota for OpenIdConnectProvidersPerAccount: 100")
            doc = {"url": host, "arn": f"arn:aws:iam::{ctx.account_id}:oidc-provider/{host}", "clients": clients,
                   "thumbprints": thumbprints, "created": ctx.clock.time(), "tags": check_tags(params.get("Tags"))}
            txn.put(R.OIDC, host, doc, ctx.account_id)
        return {"OpenIDConnectProviderArn": doc["arn"], "Tags": doc["tags"]}

    def _update_oidc(self, ctx: RequestContext, arn: str, change: Any) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            doc = self._oidc(txn, ctx, arn)
            change(doc)
            txn.put(R.OIDC, doc["url"], doc, ctx.account_id)
        self._forget_jwks(arn)
        return {}

    def add_client_id_to_open_id_connect_provider(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        client = self._client_id(params["ClientID"])

        def add(doc: dict[str, Any]) -> None:
            if client not in doc["clients"]:
                if len(doc["clients"]) >= 100:
                    raise limit_exceeded("Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100")
                doc["clients"].append(client)

        return self._update_oidc(ctx, params["OpenIDConnectProviderArn"], add)

    def remove_client_id_from_open_id_connect_provider(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        client = self._client_id(params["ClientID"])  # removing one that is not there is no error (AWS)
        return self._update_oidc(ctx, params["OpenIDConnectProviderArn"],
                                 lambda doc: doc.update(clients=[c for c in doc["clients"] if c != client]))

    def update_open_id_connect_provider_thumbprint(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        thumbprints = self._thumbprints(params["ThumbprintList"])
        return self._update_oidc(ctx, params["OpenIDConnectProviderArn"], lambda doc: doc.update(thumbprints=thumbprints))

    def _oidc(self, read: Any, ctx: RequestContext, arn: str) -> dict[str, Any]:
        host = arn.split(":oidc-provider/", 1)[-1] if isinstance(arn, str) else ""
        doc = read.get(R.OIDC, host, ctx.account_id) if host else None
        if doc is None or doc["arn"] != arn:
            raise no_such_entity(f"OpenIDConnect Provider not found for arn {arn}")
        return doc

    def get_open_id_connect_provider(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._oidc(ctx.store.read, ctx, params["OpenIDConnectProviderArn"])
        return {"Url": doc["url"], "ClientIDList": doc["clients"], "ThumbprintList": doc["thumbprints"], "CreateDate": dt(doc["created"]), "Tags": doc["tags"]}

    def list_open_id_connect_providers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"OpenIDConnectProviderList": [{"Arn": d["arn"]} for _, d in ctx.store.read.scan(R.OIDC, ctx.account_id)]}

    def delete_open_id_connect_provider(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["OpenIDConnectProviderArn"]
        with ctx.store.transaction() as txn:
            host = arn.split(":oidc-provider/", 1)[-1] if isinstance(arn, str) else ""
            doc = txn.get(R.OIDC, host, ctx.account_id) if host else None
            if doc is None or doc["arn"] != arn:
                return {}  # AWS: deleting a provider that does not exist is no error
            txn.delete(R.OIDC, doc["url"], ctx.account_id)
        self._forget_jwks(arn)
        return {}
