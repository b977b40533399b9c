# callctl service image. The lab (scripts/demo) runs the same code from .venv.
FROM python:3.11-slim-bookworm
WORKDIR /opt/callctl
COPY pyproject.toml README.md alembic.ini ./
COPY callctl ./callctl
COPY ami ./ami
COPY kpi ./kpi
COPY routing ./routing
COPY ivr ./ivr
COPY recording ./recording
COPY asterisk-config ./asterisk-config
COPY migrations ./migrations
COPY sipp ./sipp
RUN pip install --no-cache-dir -e . && useradd --system callctl
USER callctl
ENV CALLCTL_HTTP_HOST=0.0.0.0
EXPOSE 8345
CMD ["sh", "-c", "callctl migrate && exec callctl serve"]
