import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface RateSeries {
  /** Seconds since the epoch. */
  readonly times: number[];
  readonly series: ReadonlyArray<{ label: string; values: number[]; color: string }>;
}

/**
 * A line chart of rates over time (uPlot, canvas). The canvas is hidden from assistive technology; the
 * caller gives a text summary of the same numbers beside it.
 */
export function RateChart({ data, label }: { data: RateSeries; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const shape = data.series.map((s) => s.label).join('|');

  useEffect(() => {
    const element = host.current;
    if (element === null) return;
    const width = () => Math.max(320, element.clientWidth);
    plot.current = new uPlot(
      {
        width: width(),
        height: 240,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [{}, { label: 'events/s' }],
        // The figures above give the latest values; the legend only names the lines.
        legend: { live: false },
        series: [{}, ...data.series.map((s) => ({ label: s.label, stroke: s.color, width: 2 }))],
      },
      [data.times, ...data.series.map((s) => s.values)],
      element,
    );
    element.querySelector('canvas')?.setAttribute('aria-hidden', 'true');
    const resize = () => plot.current?.setSize({ width: width(), height: 240 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.current?.destroy();
      plot.current = undefined;
    };
    // Rebuilt only when the series change; new numbers go through setData below.
  }, [shape]);

  useEffect(() => {
    plot.current?.setData([data.times, ...data.series.map((s) => s.values)]);
  }, [data]);

  return <div class="chart" ref={host} role="group" aria-label={label} />;
}
