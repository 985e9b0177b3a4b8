"""The REST API: one view per operation, each a thin shell around a service or selector."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import api_error
from leaderboard import selectors, services
from leaderboard.answer_cache import AnswerCache
from leaderboard.api.auth import IsParticipant, ParticipantKeyAuthentication
from leaderboard.api.serializers import (
    ChallengeOutput,
    SubmissionCreateInput,
    SubmissionOutput,
    columns_data,
    statistics_data,
)
from leaderboard.api.throttles import IPThrottle, KeyThrottle, SubmitThrottle
from leaderboard.models import Challenge
from leaderboard.ranking_version import version_get


class ApiView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

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


def _error_from(exc: services.SubmissionError) -> Response:
    details = {exc.field: [exc.message]} if exc.field else {}
    if isinstance(exc, services.SubmissionLimitReached):
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
        if exc.retry_after_s:
            details["retry_after_s"] = exc.retry_after_s
        return api_error(exc.message, status=status.HTTP_429_TOO_MANY_REQUESTS, details=details, headers=headers)
    if isinstance(exc, services.SubmissionForbidden):
        return api_error(exc.message, status=status.HTTP_403_FORBIDDEN, details=details)
    if isinstance(exc, services.IdempotencyConflict):
        return api_error(exc.message, status=status.HTTP_409_CONFLICT, details=details)
    message = f"{exc.field}: {exc.message}" if exc.field else exc.message
    return api_error(message, status=status.HTTP_400_BAD_REQUEST, details=details)


class SubmissionCreateView(ParticipantApiView):
    throttle_classes = [KeyThrottle, SubmitThrottle]

    @extend_schema(
        operation_id="submissions_create",
        request=SubmissionCreateInput,
        responses={202: SubmissionOutput},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        summary="Submit your service's entry point to a challenge",
    )
    def post(self, request: Request) -> Response:
        data = SubmissionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            submission, _ = services.submission_create(
                participant=request.user,
                challenge_slug=data.validated_data["challenge"],
                target_url=data.validated_data["target_url"],
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
        except services.SubmissionError as exc:
            return _error_from(exc)
        body = SubmissionOutput(submission, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]})


class SubmissionDetailView(ParticipantApiView):
    @extend_schema(operation_id="submissions_retrieve", responses={200: SubmissionOutput})
    def get(self, request: Request, submission_id: int) -> Response:
        submission = selectors.submission_for_participant(participant=request.user, submission_id=submission_id)
        if submission is None:
            raise exceptions.NotFound(f"you have no submission {submission_id}")
        return Response(SubmissionOutput(submission, context={"request": request}).data)


class SubmissionCancelView(ParticipantApiView):
    @extend_schema(operation_id="submissions_cancel", request=None, responses={202: SubmissionOutput})
    def post(self, request: Request, submission_id: int) -> Response:
        submission = selectors.submission_for_participant(participant=request.user, submission_id=submission_id)
        if submission is None:
            raise exceptions.NotFound(f"you have no submission {submission_id}")
        if not services.submission_cancel(submission=submission):
            return api_error(
                f"submission {submission_id} has already finished ({submission.status})",
                status=status.HTTP_409_CONFLICT,
                details={"status": [submission.status]},
            )
        return Response(SubmissionOutput(submission, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ChallengeListView(ApiView):
    @extend_schema(operation_id="challenges_list", responses={200: ChallengeOutput(many=True)})
    def get(self, request: Request) -> Response:
        challenges = selectors.challenge_list()
        return Response(ChallengeOutput(challenges, many=True, context={"request": request}).data)


LeaderboardOutput = inline_serializer(
    "Leaderboard",
    fields={
        "challenge": serializers.CharField(),
        "columns": serializers.ListField(child=serializers.DictField()),
        "count": serializers.IntegerField(),
        "page": serializers.IntegerField(),
        "pages": serializers.IntegerField(),
        "sort": serializers.CharField(),
        "results": serializers.ListField(child=serializers.DictField()),
    },
)


def _positive_int(raw: str | None, *, name: str, default: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: ["must be a whole number"]}) from None
    if value < 1:
        raise exceptions.ValidationError({name: ["must be at least 1"]})
    return value


class LeaderboardView(ApiView):
    # The IP throttle reads the ranking version in its round trip (see below).
    reads_ranking_version = True

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        answer = self._cached_answer(request, slug=str(kwargs.get("slug", "")))
        return answer if answer is not None else super().dispatch(request, *args, **kwargs)

    def _cached_answer(self, request: HttpRequest, *, slug: str) -> HttpResponse | None:
        """The hottest public read, served from this process's cache without DRF's request handling.

        Costs the IP throttle's single round trip (which also brings the
        ranking version). Anything else (no cached answer, a new version, a
        throttled client, bad parameters) takes the regular path below, which
        answers errors in the uniform shape.
        """
        key = (slug, request.GET.get("page"), request.GET.get("sort"))
        if request.method != "GET" or not answer_cache.holds(key=key):
            return None
        if not IPThrottle().allow_request(request, self):
            return None
        # Counted once: the regular path must not count this request again.
        request.ip_counted = True
        body = answer_cache.get(key=key, version=request.ranking_version)
        return HttpResponse(body, content_type="application/json") if body is not None else None

    @extend_schema(
        operation_id="leaderboards_retrieve",
        responses={200: LeaderboardOutput},
        parameters=[
            OpenApiParameter("page", int, required=False),
            OpenApiParameter("sort", str, required=False, description="rank, participant, statistic_1..3, score or when; prefix - for descending"),
        ],
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        page = _positive_int(request.query_params.get("page"), name="page", default=1)
        sort = request.query_params.get("sort") or "rank"
        try:
            selectors.sort_parse(sort=sort)
        except selectors.UnknownSort as exc:
            raise exceptions.ValidationError({"sort": [str(exc)]}) from None
        # Each process keeps the encoded answer with the ranking version it was
        # built at; every scoring bumps the version, so a new result shows at
        # once, and the version comes with the throttle's round trip.
        version = getattr(request, "ranking_version", None)
        if version is None:
            version = version_get()
        key = (slug, request.query_params.get("page"), request.query_params.get("sort"))
        body = answer_cache.get(key=key, version=version)
        if body is None:
            challenge = get_object_or_404(Challenge, slug=slug, is_active=True)
            page_data = selectors.leaderboard_page(challenge=challenge, sort=sort, page=page)
            body = JSONRenderer().render(_leaderboard_body(page_data))
            answer_cache.put(key=key, version=version, body=body)
        return HttpResponse(body, content_type="application/json")


answer_cache = AnswerCache()


def _leaderboard_body(page: selectors.LeaderboardPage) -> dict:
    # reverse() once instead of once per row: it is the slowest part of building a page of 50.
    submission_url = reverse("leaderboard:submission", args=[987654321]).replace("987654321", "{}")
    return {
        "challenge": page.challenge.slug,
        "columns": columns_data(page.columns),
        "count": page.total,
        "page": page.page,
        "pages": page.page_count,
        "sort": page.sort,
        "results": [
            {
                "rank": row.rank,
                "participant": row.participant.username,
                "display_name": row.participant.shown_name,
                "statistics": statistics_data(row.submission, page.columns),
                "score": row.submission.score,
                "submitted_at": row.submission.created_at.isoformat().replace("+00:00", "Z"),
                "submission": submission_url.format(row.submission.id),
            }
            for row in page.rows
        ],
    }
