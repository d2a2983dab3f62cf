// The local training engine (issue 4): MedMNIST data, the CNN, backend choice, metrics.
export { initBackend, useBackend, type BackendPreference } from './backend.ts';
export { loadMedMnist, DatasetError, type MedMnistData, type Split } from './dataset.ts';
export { DATASETS, outputCount, type DatasetSpec, type Task } from './registry.ts';
export { partitionIndices, partitionClasses, partitionLike, parseSplit, seededRandom, type SplitScheme } from './partition.ts';
export { DEFAULT_ARCH, type Architecture, createModel, flattenWeights, setFlatWeights, weightShapes, parameterCount, exportLayersModel, importLayersModel } from './model.ts';
export { evaluateScores, rocAuc, youdenThreshold } from './metrics.ts';
export { augmentBatch, CHEST_XRAY_AUGMENT, type AugmentOptions } from './augment.ts';
export { createTrainer, TfjsTrainer, DEFAULT_REGULARIZATION, type TrainingPlan, type TrainerOptions, type FitResult, type EpochInfo } from './trainer.ts';
