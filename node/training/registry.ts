// MedMNIST 2D datasets flnode knows: task type, labels, official split sizes, file MD5 and URL
// (MedMNIST v2 release on Zenodo, 28x28 files).
export type Task = 'binary' | 'multi-label' | 'multi-class';

export interface DatasetSpec {
  name: string;
  task: Task;
  labels: string[];
  splits: { train: number; val: number; test: number };
  channels: 1 | 3;
  md5: string;
  url: string;
}

const zenodo = (name: string) => `https://zenodo.org/records/10519652/files/${name}.npz?download=1`;

export const DATASETS: Record<string, DatasetSpec> = {
  chestmnist: {
    name: 'chestmnist',
    task: 'multi-label',
    labels: ['atelectasis', 'cardiomegaly', 'effusion', 'infiltration', 'mass', 'nodule', 'pneumonia', 'pneumothorax', 'consolidation', 'edema', 'emphysema', 'fibrosis', 'pleural', 'hernia'],
    splits: { train: 78468, val: 11219, test: 22433 },
    channels: 1,
    md5: '02c8a6516a18b556561a56cbdd36c4a8',
    url: zenodo('chestmnist'),
  },
  pneumoniamnist: {
    name: 'pneumoniamnist',
    task: 'binary',
    labels: ['normal', 'pneumonia'],
    splits: { train: 4708, val: 524, test: 624 },
    channels: 1,
    md5: '28209eda62fecd6e6a2d98b1501bb15f',
    url: zenodo('pneumoniamnist'),
  },
  organamnist: {
    name: 'organamnist',
    task: 'multi-class',
    labels: ['bladder', 'femur-left', 'femur-right', 'heart', 'kidney-left', 'kidney-right', 'liver', 'lung-left', 'lung-right', 'pancreas', 'spleen'],
    splits: { train: 34561, val: 6491, test: 17778 },
    channels: 1,
    md5: '866b832ed4eeba67bfb9edee1d5544e6',
    url: zenodo('organamnist'),
  },
  breastmnist: {
    name: 'breastmnist',
    task: 'binary',
    labels: ['malignant', 'normal-benign'],
    splits: { train: 546, val: 78, test: 156 },
    channels: 1,
    md5: '750601b1f35ba3300ea97c75c52ff8f6',
    url: zenodo('breastmnist'),
  },
};

/** Number of model outputs: one sigmoid for binary, L sigmoids for multi-label, L softmax classes. */
export function outputCount(spec: DatasetSpec): number {
  return spec.task === 'binary' ? 1 : spec.labels.length;
}

/** The dataset a file name refers to (`.../chestmnist.npz` → chestmnist), if known. */
export function specForPath(path: string): DatasetSpec | undefined {
  const base = path.split(/[\\/]/).pop()!.toLowerCase().replace(/(_\d+)?\.npz$/, '');
  return DATASETS[base];
}
