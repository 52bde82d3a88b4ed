# One image for web, worker and beat (docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 EPRP_MODE=production
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build-only-not-secret-build-only-xx FIELD_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    EPRP_MODE=embedded python manage.py collectstatic --noinput -v0
RUN useradd --system --uid 10001 eprp && mkdir -p /app/var && chown eprp /app/var
USER eprp
EXPOSE 8000
CMD ["gunicorn", "eprp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-"]
