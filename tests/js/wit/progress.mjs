// Stand-in for mmcp:backbone/progress: records the reports.
export const reports = [];

export function report(done, total) {
  reports.push([done, total]);
}
