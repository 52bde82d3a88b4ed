"""/api/v1/: the sponsor exports API and the patient API for mobile apps."""

urlpatterns: list = []
