# callctl service image: callctl installed as a package (a wheel, not `pip install -e`).
# The wheel carries the migrations and the Asterisk/Kamailio templates as package data;
# nothing of the lab's SIPp scenarios (sipp/) or tests enters the image (.dockerignore).

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY callctl ./callctl
COPY ami ./ami
COPY agents ./agents
COPY kpi ./kpi
COPY routing ./routing
COPY ivr ./ivr
COPY recording ./recording
COPY forecast ./forecast
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim-bookworm
# Dependencies at the exact versions and hashes of requirements.lock, then callctl alone.
COPY requirements.lock /tmp/requirements.lock
COPY --from=build /wheels /wheels
# sox converts the nodes' raw recordings to FLAC (recording/audio.py).
RUN apt-get update && apt-get install -y --no-install-recommends sox \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock \
 && pip install --no-cache-dir --no-deps /wheels/callctl-*.whl && rm -rf /wheels /tmp/requirements.lock \
 && useradd --system callctl
USER callctl
WORKDIR /home/callctl
ENV CALLCTL_HTTP_HOST=0.0.0.0
EXPOSE 8345
CMD ["sh", "-c", "callctl migrate && exec callctl serve"]
