// The local training engine (issue 4): MedMNIST data, the CNN, backend choice, metrics.
export { initBackend, useBackend, type BackendPreference } from './backend.ts';
export { loadMedMnist, DatasetError, type MedMnistData, type Split } from './dataset.ts';
export { DATASETS, outputCount, type DatasetSpec, type Task } from './registry.ts';
export { partitionIndices, partitionClasses, parseSplit, seededRandom, type SplitScheme } from './partition.ts';
export { createModel, flattenWeights, setFlatWeights, weightShapes, parameterCount, exportLayersModel, importLayersModel } from './model.ts';
export { evaluateScores, rocAuc } from './metrics.ts';
export { createTrainer, TfjsTrainer, type TrainingPlan, type TrainerOptions } from './trainer.ts';
