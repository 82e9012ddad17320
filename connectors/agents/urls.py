from django.urls import path

from connectors.agents import views

app_name = "agent"
urlpatterns = [
    path("poll", views.poll, name="poll"),
    path("answer", views.answer, name="answer"),
]
