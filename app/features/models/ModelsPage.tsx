/** @file The models page (placeholder): choose a GGUF (catalog, URL or local file), download, cache and load it. */
export function ModelsPage() {
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Models</h1>
      <p className="text-slate-600 dark:text-slate-400">
        Models are GGUF files (DBRX, OLMoE, Qwen-MoE, Granite-MoE, Mixtral, Llama). Loading them arrives with the
        model-loading issue.
      </p>
    </div>
  );
}
