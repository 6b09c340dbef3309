// A line chart on uPlot: x is unix seconds (or, with `steps`, a plain number such as a training
// step), one line per series. The chart is made once and fed new data with setData, so a
// chart that updates every second stays cheap. `points` marks every point (for series with gaps,
// where a lone value would otherwise draw nothing).
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  color: string;
}

export function Chart({
  title,
  series,
  data,
  unit,
  steps,
  points,
}: {
  title: string;
  series: Series[];
  data: (number | null)[][];
  unit?: string;
  steps?: boolean;
  points?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    if (!box.current) return;
    const width = Math.max(280, box.current.clientWidth);
    const opts: uPlot.Options = {
      title,
      width,
      height: 200,
      series: [
        {},
        ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true, ...(points ? { points: { show: true, size: 5, fill: s.color } } : {}) })),
      ],
      axes: [steps ? { label: "step" } : {}, { label: unit, size: 60 }],
      scales: steps ? { x: { time: false } } : undefined,
      legend: { show: true },
    };
    const u = new uPlot(opts, data as uPlot.AlignedData, box.current);
    plot.current = u;
    const resize = new ResizeObserver(() => box.current && u.setSize({ width: Math.max(280, box.current.clientWidth), height: 200 }));
    resize.observe(box.current);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Made again only when the series change; data goes through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [title, unit, steps, points, series.map((s) => s.label).join("|")]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  return <div className="chart" ref={box} data-points={data[0]?.length ?? 0} />;
}
