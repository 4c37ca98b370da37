use napi_derive::module_init;

/// napi's own tokio runtime now serves only cold paths (`close`); queries run on the engine's
/// shards. One worker thread is plenty for that.
#[module_init]
fn init() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("pgwarp-napi")
        .enable_all()
        .build();
    if let Ok(runtime) = runtime {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}
