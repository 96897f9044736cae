import type { HTMLAttributes, ReactNode } from 'react';

export interface Column<T> {
  /** Stable key for the column. */
  key: string;
  header: ReactNode;
  render: (row: T) => ReactNode;
  className?: string;
}

type RowAttributes = HTMLAttributes<HTMLTableRowElement> & { [dataAttribute: `data-${string}`]: string | undefined };

/**
 * A plain data table. `rowProps` adds attributes per row (data-testid, data-*-id, className,
 * onClick). When there are no rows, `empty` is shown instead of the table.
 */
export function Table<T>({
  columns,
  rows,
  rowKey,
  rowProps,
  empty,
  caption,
  testId,
}: {
  columns: Column<T>[];
  rows: readonly T[];
  rowKey: (row: T) => string;
  rowProps?: (row: T) => RowAttributes;
  empty?: ReactNode;
  caption?: ReactNode;
  testId?: string;
}) {
  if (rows.length === 0 && empty) return <>{empty}</>;
  return (
    <div className="table-wrap">
      <table className="table" data-testid={testId}>
        {caption ? <caption>{caption}</caption> : null}
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.key} scope="col" className={column.className}>
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} {...rowProps?.(row)}>
              {columns.map((column) => (
                <td key={column.key} className={column.className}>
                  {column.render(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
