//! Optional export of request spans to an OpenTelemetry collector, over OTLP/HTTP.

use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// A provider that batches spans and sends them to `{endpoint}/v1/traces`, as every
/// OpenTelemetry SDK does with `OTEL_EXPORTER_OTLP_ENDPOINT`. Flush it with `shutdown`.
pub fn otlp_provider(endpoint: &url::Url) -> Result<SdkTracerProvider, String> {
    if !matches!(endpoint.scheme(), "http" | "https") {
        return Err(format!("--otlp-endpoint {endpoint}: the scheme must be http or https"));
    }
    // reqwest's rustls uses the process's crypto provider: classhub's own, ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let traces = format!("{}/v1/traces", endpoint.as_str().trim_end_matches('/'));
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(traces.as_str())
        .build()
        .map_err(|e| format!("--otlp-endpoint {traces}: {e}"))?;
    let resource = Resource::builder().with_service_name("classhub").build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}
