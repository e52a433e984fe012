/**
 * @file The chat's notice on a software adapter: Brix runs on a software renderer here, wllama (llama.cpp's wasm
 * CPU path) ran the same model about 90× faster when measured here (wllamaOffer.ts); "Use wllama" switches the chat to wllama's
 * option of the same model and loads it, "Not now" dismisses the notice for good.
 */
import { appStore, useApp } from '../../appStore.ts';
import { MEASURED_SOFTWARE, measuredSpeedup, wllamaOfferFor } from './wllamaOffer.ts';

const btn = 'rounded-md border px-2 py-0.5 text-xs font-medium';

export function WllamaOfferNotice() {
  const gpu = useApp((s) => s.gpu);
  const selected = useApp((s) => s.selectedModelId);
  const options = useApp((s) => s.externalOptions);
  const dismissed = useApp((s) => s.wllamaOfferDismissed);
  const offer = wllamaOfferFor(gpu, selected, options, dismissed);
  if (!offer) return null;
  const m = MEASURED_SOFTWARE;
  return (
    <div
      role="note"
      aria-label="A faster engine for this machine"
      data-testid="wllama-offer"
      className="flex flex-wrap items-center gap-2 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-xs text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
    >
      <p className="min-w-0 flex-1 basis-64">
        This browser has no hardware GPU: Brix runs on a software renderer here ({offer.adapter}). wllama (llama.cpp on the CPU) is much
        faster on such a renderer: measured here on {m.adapter}, it decoded {m.model} about {measuredSpeedup()}× faster than Brix (
        {m.wllama.decode} against {m.brix.decode} tokens/s).
      </p>
      <div className="flex shrink-0 gap-2">
        <button
          type="button"
          className={`${btn} border-amber-700 bg-amber-700 text-white hover:bg-amber-800 dark:border-amber-500 dark:bg-amber-500 dark:text-amber-950`}
          onClick={() => void appStore.getState().loadModel(offer.option.id)}
        >
          Use wllama
        </button>
        <button
          type="button"
          className={`${btn} border-amber-400 hover:bg-amber-100 dark:border-amber-600 dark:hover:bg-amber-900`}
          onClick={() => appStore.getState().dismissWllamaOffer()}
        >
          Not now
        </button>
      </div>
    </div>
  );
}
