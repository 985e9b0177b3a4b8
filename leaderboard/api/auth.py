"""``Authorization: Bearer <participant API key>`` for the submissions API."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from leaderboard.models import Participant
from leaderboard.selectors import participant_by_key


class ParticipantKeyAuthentication(BaseAuthentication):
    """No header → anonymous (the permission answers 401); a wrong key → 403."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Participant, str] | None:
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].decode("latin-1").lower() != self.keyword.lower():
            raise exceptions.NotAuthenticated("use 'Authorization: Bearer <your API key>'")
        if len(header) != 2:
            raise exceptions.NotAuthenticated("the Authorization header must be 'Bearer <your API key>'")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.PermissionDenied("this API key is not valid") from None
        participant = participant_by_key(key=key)
        if participant is None:
            raise exceptions.PermissionDenied("this API key is not valid")
        return participant, key

    def authenticate_header(self, request: Request) -> str:
        # Its presence makes DRF answer 401 (not 403) to a missing key.
        return self.keyword


class IsParticipant(BasePermission):
    message = "an API key is required: send 'Authorization: Bearer <your API key>'"

    def has_permission(self, request: Request, view: object) -> bool:
        if not isinstance(request.user, Participant):
            # Raised here so the answer says what to send (DRF's default 401 text does not).
            raise exceptions.NotAuthenticated(self.message)
        return True


class ParticipantKeyScheme(OpenApiAuthenticationExtension):
    """Documents the Bearer API key in the OpenAPI schema."""

    target_class = "leaderboard.api.auth.ParticipantKeyAuthentication"
    name = "participantKey"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Your participant API key (scc_…), shown once when the participant was created.",
        }
