"""Credential-rotation staging in AWS Secrets Manager with its own staging labels.

The pending version of a connection is a version of the connection's own secret whose id is the
rotation token (``ClientRequestToken``), labelled ``AWSPENDING``; lookups read ``AWSCURRENT`` and
never see it. Promoting moves ``AWSCURRENT`` to it (Secrets Manager moves ``AWSPREVIOUS`` to the
version it leaves) and removes ``AWSPENDING``; discarding removes ``AWSPENDING`` (an unlabelled
version is cleaned up by AWS). The step the rotation reached is recorded in the secret's tag
:data:`ROTATION_TAG` as ``<token>:<step>:<created_at>``; the value is put before the tag, so a pending
version without a matching tag has completed ``create``. A promote of a token that is already
``AWSCURRENT`` and a discard of a token that is not pending do nothing.

Needs ``secretsmanager:DescribeSecret``, ``PutSecretValue``, ``UpdateSecretVersionStage``,
``TagResource`` and ``UntagResource`` on the secret; a refusal is
:class:`~hookline.exceptions.BackendPermissionDenied`.
"""

from __future__ import annotations

import time
from typing import Any

from hookline.connection import Connection
from hookline.exceptions import RotationError
from hookline.secrets.base import PendingVersion
from hookline.secrets.remote_writes import WritableRemoteBackend, check_step, pending_conflict

__all__ = ["ROTATION_TAG", "SecretsManagerStaging", "client_error_code"]

#: The Secrets Manager tag recording a rotation's step: ``<token>:<step>:<created_at>``.
ROTATION_TAG = "hookline:rotation"


def client_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for any other exception)."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str((exc.response or {}).get("Error", {}).get("Code", ""))
    return ""


class SecretsManagerStaging(WritableRemoteBackend):
    """The ``stageable`` contract over Secrets Manager's staging labels (see module docs)."""

    # -- staging with AWS's labels ----------------------------------------------------------------

    def _stages(self, client: Any, key: str) -> tuple[dict[str, list[str]], dict[str, str]]:
        """``(version id -> labels, tags)`` of the secret at ``key``."""
        described = self._api(lambda: client.describe_secret(SecretId=key))
        stages = {
            str(version): list(labels)
            for version, labels in (described.get("VersionIdsToStages") or {}).items()
        }
        tags = {str(t.get("Key")): str(t.get("Value")) for t in described.get("Tags") or []}
        return stages, tags

    @staticmethod
    def _pending_id(stages: dict[str, list[str]]) -> str | None:
        for version, labels in stages.items():
            if "AWSPENDING" in labels and "AWSCURRENT" not in labels:
                return version
        return None

    def _check_token(self, token: str, step: str) -> None:
        if not 32 <= len(token) <= 64:
            raise RotationError(
                f"{self.name}: a rotation token must have 32 to 64 characters (it becomes the "
                "ClientRequestToken of the pending version)",
                step=step,
            )

    def _staged(self, what: str, op: Any) -> Any:
        """Run a staging operation (a few API calls) once, with the error mapping."""
        return self._call(what, op, retry=False, absent=False)

    def put_pending(self, conn: Connection, *, token: str, step: str) -> None:
        """Put ``conn`` as the ``AWSPENDING`` version ``token`` and record ``step`` in the tag.

        Raises:
            RotationError: another token's version is pending, or the token's length does not
                suit a ClientRequestToken.
        """
        check_step(step)
        self._check_token(token, step)
        conn_id = str(conn.conn_id)
        key = self._write_key(conn_id)

        def op(client: Any) -> bool:
            stages, tags = self._stages(client, key)
            pending = self._pending_id(stages)
            if pending is not None and pending != token:
                raise pending_conflict(conn_id, self.name, step)
            created_at = time.time()
            recorded = tags.get(ROTATION_TAG, "").split(":")
            if len(recorded) == 3 and recorded[0] == token:
                created_at = float(recorded[2] or created_at)
            if pending is None:
                self._api(
                    lambda: client.put_secret_value(
                        SecretId=key,
                        ClientRequestToken=token,
                        SecretString=conn.to_json(),
                        VersionStages=["AWSPENDING"],
                    )
                )
            value = f"{token}:{step}:{int(created_at)}"
            self._api(
                lambda: client.tag_resource(
                    SecretId=key, Tags=[{"Key": ROTATION_TAG, "Value": value}]
                )
            )
            return True

        self._staged(f"stage a pending version of {key!r}", op)

    def get_pending(self, conn_id: str) -> PendingVersion | None:
        """The ``AWSPENDING`` version (not also ``AWSCURRENT``), its step from the tag."""
        key = self._write_key(conn_id)

        def op(client: Any) -> tuple[str, str, str, float] | None:
            stages, tags = self._stages(client, key)
            pending = self._pending_id(stages)
            if pending is None:
                return None
            response = self._api(
                lambda: client.get_secret_value(
                    SecretId=key, VersionId=pending, VersionStage="AWSPENDING"
                )
            )
            step, created_at = "create", 0.0  # the value is put before the tag: "create" done
            recorded = tags.get(ROTATION_TAG, "").split(":")
            if len(recorded) == 3 and recorded[0] == pending:
                step, created_at = recorded[1], float(recorded[2] or 0)
            return pending, str(response.get("SecretString") or ""), step, created_at

        found = self._call(f"read the pending version of {key!r}", op)
        if found is None:
            return None
        token, text, step, created_at = found
        conn = Connection.from_text(text, conn_id=conn_id)
        return PendingVersion(conn, token, step, created_at)

    def promote_pending(self, conn_id: str, token: str) -> None:
        """Move ``AWSCURRENT`` to version ``token`` (``AWSPREVIOUS`` follows), remove its
        ``AWSPENDING`` label and the tag; nothing when ``token`` is current already.

        Raises:
            RotationError: ``token`` is neither pending nor current.
        """
        key = self._write_key(conn_id)

        def op(client: Any) -> bool:
            stages, tags = self._stages(client, key)
            labels = stages.get(token)
            if labels is None or not ({"AWSPENDING", "AWSCURRENT"} & set(labels)):
                raise RotationError(
                    f"connection {conn_id!r} has no pending version of this rotation to promote "
                    f"in {self.name}",
                    step="finish",
                )
            if "AWSCURRENT" not in labels:
                current = next((v for v, ls in stages.items() if "AWSCURRENT" in ls), None)
                self._api(
                    lambda: client.update_secret_version_stage(
                        SecretId=key,
                        VersionStage="AWSCURRENT",
                        MoveToVersionId=token,
                        RemoveFromVersionId=current,
                    )
                )
            if "AWSPENDING" in labels:
                self._api(
                    lambda: client.update_secret_version_stage(
                        SecretId=key, VersionStage="AWSPENDING", RemoveFromVersionId=token
                    )
                )
            if ROTATION_TAG in tags:
                self._api(lambda: client.untag_resource(SecretId=key, TagKeys=[ROTATION_TAG]))
            return True

        self._staged(f"promote the pending version of {key!r}", op)

    def discard_pending(self, conn_id: str, token: str) -> None:
        """Remove ``AWSPENDING`` from version ``token`` (it becomes unlabelled, which AWS cleans
        up) and the tag; nothing when ``token`` is not pending."""
        key = self._write_key(conn_id)

        def op(client: Any) -> bool:
            stages, tags = self._stages(client, key)
            if self._pending_id(stages) != token:
                return True
            self._api(
                lambda: client.update_secret_version_stage(
                    SecretId=key, VersionStage="AWSPENDING", RemoveFromVersionId=token
                )
            )
            if tags.get(ROTATION_TAG, "").startswith(f"{token}:"):
                self._api(lambda: client.untag_resource(SecretId=key, TagKeys=[ROTATION_TAG]))
            return True

        self._staged(f"discard the pending version of {key!r}", op)
