from django.urls import path

from grading import views

app_name = "grading"
urlpatterns = [
    path("", views.QueueView.as_view(), name="queue"),
    path("new/", views.TaskCreateView.as_view(), name="task-new"),
    path("tasks/<int:pk>/", views.TaskDetailView.as_view(), name="task"),
    path("tasks/<int:pk>/grade/", views.NextItemView.as_view(), name="next"),
    path("tasks/<int:pk>/graders/", views.RaiseOverlapView.as_view(), name="raise-overlap"),
    path("tasks/<int:pk>/grade/<int:position>/", views.GradeView.as_view(), name="grade"),
    path("evaluators/<str:name>/", views.EvaluatorView.as_view(), name="evaluator"),
    path("disagreements/", views.DisagreementsView.as_view(), name="disagreements"),
    path("flag/", views.FlagCaseView.as_view(), name="flag"),
]
