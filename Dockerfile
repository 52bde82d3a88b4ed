# One image for web, worker and beat (docker-compose.yml). Every step is deploy/eprp's, the
# script CI runs too (tests/production/smoke.py), so what CI tests is what the image does.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 EPRP_MODE=production \
    EPRP_VENV=/opt/venv PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt ./
COPY deploy/ deploy/
RUN deploy/eprp install
COPY . .
RUN deploy/eprp static
RUN useradd --system --uid 10001 eprp && mkdir -p /app/var && chown eprp /app/var
USER eprp
EXPOSE 8000
CMD ["deploy/eprp", "web"]
