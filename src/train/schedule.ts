// The paper's learning-rate schedule: divide by 10 when validation accuracy stops improving, at most
// `maxDecays` times (three in the paper); training ends when the last rate plateaus too.

/** The schedule's state (checkpointed). */
export interface PlateauState {
  lr: number;
  /** Best validation error so far; null before the first (JSON has no Infinity, and this is checkpointed). */
  best: number | null;
  badEpochs: number;
  decays: number;
  done: boolean;
}

/** Learning rate ÷ 10 on validation plateaus, at most maxDecays times, then stop. */
export class PlateauSchedule {
  state: PlateauState;

  constructor(
    lr: number,
    /** Epochs without improvement before the rate is cut. */
    readonly patience: number,
    readonly maxDecays = 3,
    readonly factor = 0.1,
    /** Smallest drop in error that counts as an improvement. */
    readonly minDelta = 1e-4,
  ) {
    if (!(patience >= 1 && Number.isInteger(patience)))
      throw new Error(`patience must be a positive integer, got ${patience}`);
    this.state = { lr, best: null, badEpochs: 0, decays: 0, done: false };
  }

  /** Feeds one epoch's validation error; returns what happened. */
  step(valError: number): 'improved' | 'waiting' | 'decayed' | 'finished' {
    const s = this.state;
    if (s.best === null || valError < s.best - this.minDelta) {
      s.best = valError;
      s.badEpochs = 0;
      return 'improved';
    }
    s.badEpochs++;
    if (s.badEpochs < this.patience) return 'waiting';
    s.badEpochs = 0;
    if (s.decays >= this.maxDecays) {
      s.done = true;
      return 'finished';
    }
    s.decays++;
    s.lr *= this.factor;
    return 'decayed';
  }
}
