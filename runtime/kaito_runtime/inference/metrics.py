"""Prometheus series of the inference server, kept in a registry of its own (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """Every series the server exports at ``GET /metrics``: ``kaito_inference_*``, and the two queue gauges under
    vLLM's names, so that autoscalers written for vLLM (KEDA's Prometheus trigger) read this server unchanged."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "kaito_inference_http_requests", "HTTP requests answered.", ["route", "method", "status"], registry=r
        )
        self.request_errors = Counter(
            "kaito_inference_request_errors", "Requests answered with an error, by reason.", ["route", "reason"],
            registry=r,
        )
        self.request_duration = Histogram(
            "kaito_inference_request_duration_seconds", "Time from request to the last response byte.", ["route"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.time_to_first_token = Histogram(
            "kaito_inference_time_to_first_token_seconds", "Time from admission to the first generated token.",
            ["model"], buckets=_TTFT_BUCKETS, registry=r,
        )
        self.prompt_tokens = Counter(
            "kaito_inference_prompt_tokens", "Prompt tokens processed.", ["model"], registry=r
        )
        self.generation_tokens = Counter(
            "kaito_inference_generation_tokens", "Tokens generated.", ["model"], registry=r
        )
        self.queue_depth = Gauge(
            "vllm:num_requests_waiting", "Requests admitted and waiting for a batch slot.", registry=r
        )
        self.requests_running = Gauge(
            "vllm:num_requests_running", "Requests being generated.", registry=r
        )
        self.batch_size = Histogram(
            "kaito_inference_batch_size", "Sequences per forward pass (decode step or generate() call).", buckets=_BATCH_BUCKETS, registry=r
        )
        self.model_ready = Gauge(
            "kaito_inference_model_ready", "1 once the model is loaded and requests are served.", registry=r
        )
