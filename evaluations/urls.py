from django.urls import path

from evaluations import model_pages, scoring_views, threshold_views, views

app_name = "evaluations"
urlpatterns = [
    # Reports (before the runs app's /runs/<id>/: see mleval_site/urls.py).
    path("runs/<int:pk>/report/", views.RunReportView.as_view(), name="run-report"),
    path(
        "runs/<int:pk>/threshold/",
        threshold_views.ThresholdView.as_view(),
        name="run-threshold",
    ),
    path(
        "runs/<int:pk>/threshold/keep/",
        threshold_views.ThresholdSaveView.as_view(),
        name="run-threshold-keep",
    ),
    path("runs/compare/", views.CompareView.as_view(), name="compare"),
    path("leaderboard/", views.LeaderboardView.as_view(), name="leaderboard"),
    path("models/", model_pages.ModelListView.as_view(), name="models"),
    path("models/<path:name>/", model_pages.ModelDetailView.as_view(), name="model"),
    path("runs/<int:pk>/baseline/", model_pages.RunBaselineView.as_view(), name="run-baseline"),
    path(
        "runs/<int:pk>/mark-baseline/",
        model_pages.MarkBaselineView.as_view(),
        name="run-mark-baseline",
    ),
    path(
        "reports/cases/<int:pk>/history/",
        views.CaseHistoryView.as_view(),
        name="case-history",
    ),
    # Scoring: the evaluators page, a run's Evaluate form and its progress panel.
    path("evaluators/", scoring_views.EvaluatorsView.as_view(), name="evaluators"),
    path("runs/<int:pk>/evaluate/", scoring_views.EvaluateRunView.as_view(), name="run-evaluate"),
    path(
        "runs/<int:pk>/evaluation-progress/",
        scoring_views.EvaluationPanelView.as_view(),
        name="run-evaluation-progress",
    ),
]
