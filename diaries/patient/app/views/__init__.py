"""The patient API for mobile apps under /api/v1/patient/: the same diary as SMS and the web.

Everything is "me": the participant comes only from the token (diaries/patient/app/auth.py),
never from a URL or a body, so a token cannot reach anyone else's data. Questionnaires
are served from the study configuration, so an app never hard-codes one. Every write
goes through the diaries use cases (`submit_diary`, the treatment reports) with channel
"app": the same windows, supersession, audit and server time stamps as the other paths;
a time the app sends is only echoed.
Writes carry an Idempotency-Key: a retry returns the first response and writes nothing.
Errors are always {"errors": [{"field", "code", "message"}]}.

One module per resource: signin (auth/code, auth/token, auth/logout), me (me, devices),
today, diary (answers, history) and reports.
"""
