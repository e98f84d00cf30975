import { Module } from '@svg/nn';

/**
 * A module whose children are registered by name from outside, for PyTorch containers whose children are not
 * attributes of a class (`nn.Sequential` indices such as `main.3`, torchvision's `encoder_layer_{i}`).
 */
export class Container extends Module {
  add<M extends Module>(name: string, module: M): M {
    return this.child(name, module);
  }
}
