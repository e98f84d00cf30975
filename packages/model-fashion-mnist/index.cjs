'use strict';
/** The folder holding `svg-model.json` and the weights (Node). */
exports.MODEL_DIR = __dirname;
