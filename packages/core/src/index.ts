// Node entry point of @truss/core.
import './platform/node.js'

export * from './api.js'
