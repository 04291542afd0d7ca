"""What operators see of a running process: Prometheus metrics, health endpoints, structured logs."""
