import { Dialog, showDialog } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { Field, Select, TextInput } from '../../components/Field';
import { ExportTarget } from '../types';

/** What the export dialog asks for. */
export interface IExportChoice {
  target: ExportTarget;
  /** A folder relative to the server root. */
  outDir: string;
  /** A cron expression or an engine preset such as `@daily`; "" for none. */
  schedule: string;
}

const TARGETS: ExportTarget[] = ['airflow', 'prefect', 'kfp'];

/** Asks where to export the pipeline to; null when cancelled. */
export async function askExport(
  notebookPath: string,
  trans: TranslationBundle
): Promise<IExportChoice | null> {
  const folder = PathExt.dirname(notebookPath);
  const body = new ExportBody(
    {
      target: 'airflow',
      outDir: folder ? `${folder}/pipelines` : 'pipelines',
      schedule: ''
    },
    trans
  );
  const result = await showDialog<IExportChoice>({
    title: trans.__('Export the pipeline'),
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Export') })
    ],
    focusNodeSelector: 'select'
  });
  return result.button.accept ? result.value : null;
}

class ExportBody
  extends ReactWidget
  implements Dialog.IBodyWidget<IExportChoice>
{
  constructor(
    private _choice: IExportChoice,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-pipeline-export');
  }

  getValue(): IExportChoice {
    return { ...this._choice, outDir: this._choice.outDir.trim() };
  }

  render(): JSX.Element {
    const trans = this._trans;
    const choice = this._choice;
    const change = (patch: Partial<IExportChoice>): void => {
      this._choice = { ...this._choice, ...patch };
      this.update();
    };
    return (
      <div className="jp-mlops-pipeline-form">
        <Field label={trans.__('Engine')}>
          <Select
            name="target"
            value={choice.target}
            options={TARGETS.map(target => ({
              value: target,
              label: targetLabel(target, trans)
            }))}
            onChange={target => change({ target })}
          />
        </Field>
        <Field label={trans.__('Folder (relative to the server root)')}>
          <TextInput
            name="out_dir"
            value={choice.outDir}
            onChange={outDir => change({ outDir })}
          />
        </Field>
        <Field
          label={trans.__('Schedule (optional)')}
          title={trans.__('A cron expression, or a preset such as @daily')}
        >
          <TextInput
            name="schedule"
            value={choice.schedule}
            placeholder="0 3 * * *"
            onChange={schedule => change({ schedule })}
          />
        </Field>
      </div>
    );
  }
}

export function targetLabel(
  target: ExportTarget,
  trans: TranslationBundle
): string {
  switch (target) {
    case 'airflow':
      return trans.__('Airflow 3 (TaskFlow DAG)');
    case 'prefect':
      return trans.__('Prefect 3 (flow)');
    case 'kfp':
      return trans.__('Kubeflow Pipelines v2');
  }
}
