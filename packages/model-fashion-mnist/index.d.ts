/** The folder holding `svg-model.json` and the weights (Node). In a browser, serve the folder's files instead. */
export declare const MODEL_DIR: string;
