# The vLLM Wizard dashboard (not vLLM itself): `docker compose up`, or
#   docker build -t vllm-wizard . && docker run -p 8501:8501 vllm-wizard
# The image needs no GPU; give it NVIDIA GPUs (compose.yaml shows how) and the GPUs page detects them.

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY wizard ./wizard
# A wheel of the package alone (no test extras); the runtime stage installs it with its dependencies.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/home/wizard/.cache/huggingface \
    NVIDIA_DRIVER_CAPABILITIES=utility \
    STREAMLIT_SERVER_PORT=8501 \
    VLLM_WIZARD_MODELS_DIR=none
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
 && rm -rf /wheels \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin wizard
WORKDIR /app
# The dashboard's scripts and settings, owned by root: the app cannot change its own code.
COPY app.py ./
COPY app_pages ./app_pages
COPY .streamlit ./.streamlit
# A numeric non-root user, so Kubernetes' runAsNonRoot can check it.
USER 10001
EXPOSE 8501
# /_stcore/health answers "ok" once Streamlit accepts browsers; under server.baseUrlPath it moves to
# /<base>/_stcore/health, so the check reads the same STREAMLIT_SERVER_* variables Streamlit reads.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; base = os.environ.get('STREAMLIT_SERVER_BASE_URL_PATH', '').strip('/'); port = os.environ.get('STREAMLIT_SERVER_PORT', '8501'); urllib.request.urlopen(f'http://127.0.0.1:{port}/' + (base + '/' if base else '') + '_stcore/health', timeout=4)"]
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.headless=true"]
