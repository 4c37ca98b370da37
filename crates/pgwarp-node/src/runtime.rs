use napi_derive::module_init;

/// The engine runs on one tokio worker thread by default: a connection's I/O task and the
/// queries reading from it then share a thread, instead of waking each other across cores for
/// every socket read (measured in docs/design.md). `PGWARP_ENGINE_THREADS` overrides it.
#[module_init]
fn init() {
    let threads = std::env::var("PGWARP_ENGINE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("pgwarp-engine")
        .enable_all()
        .build();
    if let Ok(runtime) = runtime {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}
