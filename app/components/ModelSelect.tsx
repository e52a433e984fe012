/**
 * @file A model picker over every engine: a native select (combobox "Model") with one group per engine and the
 * fit verdict beside each model. Native, so keyboard, screen readers and phones get their own picker.
 */
import { useMemo } from 'react';
import { ENGINE_GROUP_LABEL, groupOptions, type OptionFit } from '../engines/groups.ts';
import type { ModelOption } from '../engines/types.ts';

export interface ModelSelectItem {
  /** The value the select reports (the caller's id for this model). */
  readonly value: string;
  readonly option: ModelOption;
  readonly fit: OptionFit;
  /** A few words after the name, e.g. the download size. */
  readonly detail?: string;
}

export function ModelSelect({
  items,
  value,
  onChange,
  disabled = false,
  title,
  className = '',
  placeholder,
  onOpen,
  ariaDescribedBy,
}: {
  items: readonly ModelSelectItem[];
  value: string;
  onChange: (value: string) => void;
  disabled?: boolean;
  title?: string;
  className?: string;
  /** An empty first entry ("Pick a model…"). */
  placeholder?: string;
  /** The user is about to open the list (focus, pointer down): a chance to refresh it. */
  onOpen?: () => void;
  ariaDescribedBy?: string;
}) {
  const groups = useMemo(() => groupOptions(items), [items]);
  return (
    <select
      aria-label="Model"
      aria-describedby={ariaDescribedBy}
      title={title}
      value={value}
      disabled={disabled}
      onFocus={onOpen}
      onPointerDown={onOpen}
      onChange={(e) => onChange(e.target.value)}
      className={`min-w-0 truncate rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900 ${className}`}
    >
      {placeholder !== undefined && <option value="">{placeholder}</option>}
      {groups.map(([kind, xs]) => (
        <optgroup key={kind} label={ENGINE_GROUP_LABEL[kind]}>
          {xs.map((i) => (
            <option key={i.value} value={i.value} title={i.fit.text} data-fit={i.fit.verdict}>
              {i.option.name}
              {i.detail ? ` (${i.detail})` : ''}
              {i.fit.short !== '' ? ` · ${i.fit.short}` : ''}
            </option>
          ))}
        </optgroup>
      ))}
    </select>
  );
}
