"""The REST API: one view per operation, each a thin shell around a service or selector."""

from __future__ import annotations

import io
import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import ErrorBody, PayloadTooLarge, api_error
from common.parsers import JSONParser
from common.validation import FieldError, whole_number_from_text
from leaderboard import selectors, services
from leaderboard.answer_cache import AnswerCache
from leaderboard.api.auth import IsParticipant, ParticipantKeyAuthentication
from leaderboard.api.serializers import (
    SORT_CHOICES,
    SORT_DESCRIPTION,
    ChallengeOutput,
    LeaderboardOutput,
    SubmissionCreateInput,
    SubmissionOutput,
    columns_data,
)
from leaderboard.api.throttles import IPThrottle, KeyThrottle, SubmitThrottle
from leaderboard.board_rows import json_text
from leaderboard.models import Submission
from leaderboard.ranking_version import version_get

# The largest request body read: a submission is two short strings, so
# anything near this is not one (and is answered 413 before it is parsed).
# Room for a bundle (256 KiB of manifests) written as a JSON string.
MAX_BODY_BYTES = 640 * 1024
# Ids are 64-bit columns: a larger number in the path names nothing, and is
# answered 404 without asking the database.
MAX_ID = 2**63 - 1
# Far beyond any competition's ranking; pages past the last show the last one.
MAX_PAGE = 1_000_000
# Printable ASCII, which is what an HTTP header carries without ambiguity
# (anything else is decoded as Latin-1 by the server and as whatever by a client).
IDEMPOTENCY_KEY_CHARACTERS = "[ -~]"


class LimitedJSONParser(JSONParser):
    """JSON, refused with 413 past ``MAX_BODY_BYTES``.

    DRF reads the body from the WSGI stream itself, past Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE check, so the bound is kept here; reading one
    byte more than allowed tells a large body without reading all of it.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
        return super().parse(io.BytesIO(body), media_type, parser_context)


# --- what the schema says about errors ----------------------------------------


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorBody, description=description)


BAD_INPUT = _error("Invalid input; `details` names each field (or parameter) and its problems.")
NO_KEY = _error("No API key, or not as `Authorization: Bearer <your API key>`.")
WRONG_KEY = _error("The API key is not valid.")
NOT_YOURS = _error("No such submission among yours (someone else's are not shown either).")
THROTTLED = _error("Too many requests from this address or with this key; wait `Retry-After` seconds.")
RETRY_AFTER = OpenApiParameter(
    "Retry-After", {"type": "integer", "minimum": 1}, OpenApiParameter.HEADER, required=True, response=[429],
    description="Seconds to wait before trying again (also `details.retry_after_s`).",
)
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate", str, OpenApiParameter.HEADER, required=True, response=[401],
    description="`Bearer`: the scheme the API key is sent with.",
)
SUBMISSION_ID = OpenApiParameter(
    "submission_id", {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID}, OpenApiParameter.PATH,
    required=True, description="The `id` of one of your submissions.",
)


class ApiView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    parser_classes = [LimitedJSONParser]

    def perform_authentication(self, request: Request) -> None:
        # The per-IP throttle runs before the key is looked at, so that
        # guessing keys is throttled like everything else.
        if not getattr(request, "ip_counted", False):
            throttle = IPThrottle()
            if not throttle.allow_request(request, self):
                self.throttled(request, throttle.wait())
        super().perform_authentication(request)


class ParticipantApiView(ApiView):
    authentication_classes = [ParticipantKeyAuthentication]
    permission_classes = [IsParticipant]
    throttle_classes = [KeyThrottle]


def _error_from(exc: FieldError) -> Response:
    """A refused submission in the one error shape, with the status its kind says (400 for bad input)."""
    details = {exc.field: [exc.message]} if exc.field else {}
    status_code = getattr(exc, "status", status.HTTP_400_BAD_REQUEST)
    wait = getattr(exc, "retry_after_s", None)
    if wait is not None:
        details["retry_after_s"] = wait
    headers = {"Retry-After": str(wait)} if wait is not None else None
    message = f"{exc.field}: {exc.message}" if exc.field and status_code == status.HTTP_400_BAD_REQUEST else exc.message
    return api_error(message, status=status_code, details=details, headers=headers)


class SubmissionCreateView(ParticipantApiView):
    throttle_classes = [KeyThrottle, SubmitThrottle]

    @extend_schema(
        operation_id="submissions_create",
        request=SubmissionCreateInput,
        examples=[
            OpenApiExample(
                "url-anvil on this machine",
                value={"challenge": "robust-service", "target_url": "http://127.0.0.1:8080"},
                request_only=True,
            )
        ],
        responses={
            202: OpenApiResponse(SubmissionOutput, description="Queued (or, for a repeated Idempotency-Key, the submission it made)."),
            400: BAD_INPUT,
            401: NO_KEY,
            403: _error("The API key is not valid, or the participant is suspended."),
            409: _error("This Idempotency-Key was used for a different submission."),
            413: _error(f"The request body is larger than {MAX_BODY_BYTES} bytes."),
            415: _error("The body is not `application/json`."),
            429: _error(
                "A limit was hit: you already have a submission queued or running, the challenge's daily "
                "limit is used up, or too many requests; wait `Retry-After` seconds."
            ),
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {
                    "type": "string",
                    "maxLength": services.IDEMPOTENCY_KEY_MAX,
                    "pattern": f"^{IDEMPOTENCY_KEY_CHARACTERS}*$",
                },
                OpenApiParameter.HEADER,
                required=False,
                description="Sent again with the same request, answers with the submission it made instead of a new one.",
            ),
            OpenApiParameter(
                "Location", str, OpenApiParameter.HEADER, required=True, response=[202],
                description="The submission's `status_url`.",
            ),
            RETRY_AFTER,
            WWW_AUTHENTICATE,
        ],
        summary="Submit your service's entry point to a challenge",
    )
    def post(self, request: Request) -> Response:
        data = SubmissionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        idempotency_key = request.headers.get("Idempotency-Key", "")
        if len(idempotency_key) > services.IDEMPOTENCY_KEY_MAX or not re.fullmatch(
            f"{IDEMPOTENCY_KEY_CHARACTERS}*", idempotency_key
        ):
            raise exceptions.ValidationError(
                {"Idempotency-Key": [f"must be at most {services.IDEMPOTENCY_KEY_MAX} printable ASCII characters"]}
            )
        try:
            submission, _ = services.submission_create(
                participant=request.user,
                challenge_slug=data.validated_data["challenge"],
                target_url=data.validated_data.get("target_url", ""),
                bundle=data.validated_data.get("bundle", ""),
                idempotency_key=idempotency_key,
            )
        except FieldError as exc:
            return _error_from(exc)
        body = SubmissionOutput(submission, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]})


def _own_submission(request: Request, submission_id: int) -> Submission:
    submission = None
    if submission_id <= MAX_ID:
        submission = selectors.submission_for_participant(participant=request.user, submission_id=submission_id)
    if submission is None:
        raise exceptions.NotFound(f"you have no submission {submission_id}")
    return submission


class SubmissionDetailView(ParticipantApiView):
    @extend_schema(
        operation_id="submissions_retrieve",
        parameters=[SUBMISSION_ID, RETRY_AFTER, WWW_AUTHENTICATE],
        responses={200: SubmissionOutput, 401: NO_KEY, 403: WRONG_KEY, 404: NOT_YOURS, 429: THROTTLED},
    )
    def get(self, request: Request, submission_id: int) -> Response:
        submission = _own_submission(request, submission_id)
        return Response(SubmissionOutput(submission, context={"request": request}).data)


class SubmissionCancelView(ParticipantApiView):
    @extend_schema(
        operation_id="submissions_cancel",
        request=None,
        parameters=[SUBMISSION_ID, RETRY_AFTER, WWW_AUTHENTICATE],
        responses={
            202: OpenApiResponse(SubmissionOutput, description="Cancelled if it was queued; asked to stop if it was running."),
            401: NO_KEY,
            403: WRONG_KEY,
            404: NOT_YOURS,
            409: _error("The submission has already finished; `details.status` says how."),
            429: THROTTLED,
        },
    )
    def post(self, request: Request, submission_id: int) -> Response:
        submission = _own_submission(request, submission_id)
        if not services.submission_cancel(submission=submission):
            return api_error(
                f"submission {submission_id} has already finished ({submission.status})",
                status=status.HTTP_409_CONFLICT,
                details={"status": [submission.status]},
            )
        return Response(SubmissionOutput(submission, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ChallengeListView(ApiView):
    @extend_schema(
        operation_id="challenges_list",
        parameters=[RETRY_AFTER],
        responses={200: ChallengeOutput(many=True), 429: THROTTLED},
    )
    def get(self, request: Request) -> Response:
        challenges = selectors.challenge_list()
        return Response(ChallengeOutput(challenges, many=True, context={"request": request}).data)


def _page(raw: str | None) -> int:
    # Absent means the first page; present, it must be a page number (an
    # empty ``page=`` is not one, as the schema says).
    if raw is None:
        return 1
    try:
        return whole_number_from_text(raw, field="page", minimum=1, maximum=MAX_PAGE)
    except FieldError as exc:
        raise exceptions.ValidationError({exc.field: [exc.message]}) from None


class LeaderboardView(ApiView):
    # The IP throttle reads the ranking version in its round trip (see below).
    reads_ranking_version = True

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        answer = self._plain_answer(request, slug=str(kwargs.get("slug", "")))
        return answer if answer is not None else super().dispatch(request, *args, **kwargs)

    def _plain_answer(self, request: HttpRequest, *, slug: str) -> HttpResponse | None:
        """The hottest public read, answered without DRF's request handling (which costs more than the read).

        Costs the IP throttle's single round trip (which also brings the
        ranking version), then this process's cached answer or one query.
        Anything else (a throttled client, bad parameters, no such challenge)
        takes the regular path below, which answers errors in the uniform shape.
        """
        if request.method != "GET":
            return None
        raw_page, sort = request.GET.get("page"), request.GET.get("sort")
        try:
            page = _page(raw_page)
        except exceptions.ValidationError:
            return None
        if not IPThrottle().allow_request(request, self):
            return None
        # Counted once: the regular path must not count this request again.
        request.ip_counted = True
        try:
            body = _answer(slug=slug, raw_page=raw_page, page=page, sort=sort, version=request.ranking_version)
        except FieldError:
            return None
        return HttpResponse(body, content_type="application/json") if body is not None else None

    @extend_schema(
        operation_id="leaderboards_retrieve",
        responses={
            200: LeaderboardOutput,
            400: BAD_INPUT,
            404: _error("No open challenge with this slug."),
            429: THROTTLED,
        },
        parameters=[
            OpenApiParameter(
                # Django's <slug:> converter; longer slugs than the column holds name no challenge (404).
                "slug", {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}, OpenApiParameter.PATH,
                required=True, description="The challenge's slug.",
                examples=[OpenApiExample("Robust Service", value="robust-service")],
            ),
            OpenApiParameter(
                "page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}, required=False,
                description="Page of the ranking; past the last page, the last page is shown.",
            ),
            OpenApiParameter(
                "sort", {"type": "string", "enum": SORT_CHOICES, "default": "rank"}, required=False,
                description=SORT_DESCRIPTION,
                examples=[OpenApiExample("Robust Service, lowest latency first", value="avg_latency_ms")],
            ),
            RETRY_AFTER,
        ],
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        raw_page = request.query_params.get("page")
        page = _page(raw_page)
        version = getattr(request, "ranking_version", None)
        try:
            body = _answer(slug=slug, raw_page=raw_page, page=page, sort=request.query_params.get("sort"),
                           version=version_get() if version is None else version)
        except FieldError as exc:
            raise exceptions.ValidationError({exc.field: [exc.message]}) from None
        if body is None:
            raise exceptions.NotFound(f"there is no open challenge {slug!r}")
        return HttpResponse(body, content_type="application/json")


answer_cache = AnswerCache()


def _answer(*, slug: str, raw_page: str | None, page: int, sort: str | None, version: int) -> bytes | None:
    """The encoded answer, None for no open challenge ``slug``; raises FieldError for a sort it does not have.

    Each process keeps the encoded answer with the ranking version it was
    built at; every scoring bumps the version, so a new result shows at once.
    ``sort`` absent means the rank; present, it must be one of the challenge's keys exactly.
    """
    key = (slug, raw_page, sort)
    body = answer_cache.get(key=key, version=version)
    if body is None:
        page_data = selectors.leaderboard_page_by_slug(slug=slug, sort=sort, page=page, shown_as="json")
        if page_data is None:
            return None
        body = _leaderboard_body(page_data)
        answer_cache.put(key=key, version=version, body=body)
    return body


def _leaderboard_body(page: selectors.LeaderboardPage) -> bytes:
    head = json_text({
        "challenge": page.challenge.slug,
        "columns": columns_data(page.columns),
        "count": page.total,
        "page": page.page,
        "pages": page.page_count,
        "sort": page.sort,
    })
    # The results are stored JSON (leaderboard.board_rows), joined as the object's last member.
    return f'{head[:-1]},"results":[{",".join(page.rows)}]}}'.encode()


@csrf_exempt
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other path under the API: a 404 in the API's error shape rather than the site's HTML page."""
    return JsonResponse({"error": f"there is no API operation at {request.path}", "details": {}}, status=404)
