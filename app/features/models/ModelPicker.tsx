/** @file The model picker (combobox "Model"): choosing a model loads it in a fresh engine worker. */
import { useApp, appStore } from '../../appStore.ts';
import { hrefOf } from '../../router.ts';

export function ModelPicker({ disabled = false }: { disabled?: boolean }) {
  const models = useApp((s) => s.models);
  const selected = useApp((s) => s.selectedModelId);
  return (
    <div className="flex min-w-0 items-center gap-2">
      <select
        aria-label="Model"
        value={selected}
        disabled={disabled}
        onChange={(e) => void appStore.getState().loadModel(e.target.value)}
        className="min-w-0 max-w-[16rem] truncate rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
      >
        {models.map((m) => (
          <option key={m.id} value={m.id}>
            {m.name}
          </option>
        ))}
      </select>
      <a href={hrefOf('models')} className="shrink-0 text-xs text-teal-700 underline dark:text-teal-400">
        More models
      </a>
    </div>
  );
}
