/**
 * @file The chat's model picker (combobox "Model"): every engine's models, grouped, each with its fit verdict
 * (the shared ModelSelect). Choosing one loads it, or reuses it when Compare already loaded it in this tab.
 */
import { useMemo } from 'react';
import { ModelSelect, type ModelSelectItem } from '../../components/ModelSelect.tsx';
import { optionFit } from '../../engines/groups.ts';
import { brixOption } from '../../engines/brix.ts';
import { useApp, appStore } from '../../appStore.ts';
import { hrefOf } from '../../router.ts';
import { externalKindOf } from './engineSlice.ts';
import { deviceMemoryGb } from './fit.ts';

export function ModelPicker({ disabled = false }: { disabled?: boolean }) {
  const models = useApp((s) => s.models);
  const external = useApp((s) => s.externalOptions);
  const gpu = useApp((s) => s.gpu);
  const selected = useApp((s) => s.selectedModelId);
  const items = useMemo((): ModelSelectItem[] => {
    const mem = deviceMemoryGb();
    const brix = models.filter((m) => m.origin !== 'file' || m.file !== undefined).map((m) => ({ value: m.id, option: brixOption(m) }));
    const others = external.map((o) => ({ value: o.id, option: o }));
    return [...brix, ...others].map((i) => ({ ...i, fit: optionFit(i.option, gpu, mem) }));
  }, [models, external, gpu]);
  // A selection whose list is not loaded yet (WebLLM's) still shows.
  const shown = items.some((i) => i.value === selected) ? items : [...items, ...unlisted(selected)];
  return (
    <div className="flex min-w-0 items-center gap-2">
      <ModelSelect
        items={shown}
        value={selected}
        disabled={disabled}
        className="max-w-[18rem]"
        onOpen={() => {
          if (appStore.getState().externalOptions.every((o) => o.kind !== 'webllm')) void appStore.getState().refreshOptions();
        }}
        onChange={(v) => void appStore.getState().loadModel(v)}
      />
      <a href={hrefOf('models')} className="shrink-0 text-xs text-teal-700 underline dark:text-teal-400">
        More models
      </a>
    </div>
  );
}

function unlisted(id: string): ModelSelectItem[] {
  const kind = externalKindOf(id);
  if (!kind) return [];
  return [{ value: id, option: { id, kind, ref: id.slice(kind.length + 1), name: id.slice(kind.length + 1) }, fit: { verdict: 'checking', short: 'listing…', text: 'Listing models…' } }];
}
