package org.livyserver.repl

import com.fasterxml.jackson.databind.JsonNode

import org.apache.spark.sql.{Row, SparkSession}
import org.apache.spark.sql.types.StructType

/**
 * `sql` statements: one query through `spark.sql`, answered as Livy's application/json
 * `{"schema": <StructType JSON>, "data": [[...], ...]}`, at most `maxRows` rows.
 */
final class SqlInterpreter(spark: SparkSession, maxRows: Int) extends Interpreter {
  def kind: String = "sql"

  def execute(sid: Long, code: String): Output = {
    try {
      val df = spark.sql(code)
      val schema = df.schema
      val rows = df.take(maxRows).toSeq.map(row => rowToJson(row, schema))
      Output.data(Output.ApplicationJson, Json.obj("schema" -> Json.parse(schema.json), "data" -> Json.arr(rows)))
    } catch {
      case e: InterruptedException => throw e
      case e: Exception =>
        // Livy reports SQL failures as ename "Error" with the message as evalue.
        val cause = Option(e.getCause).filter(_ => e.isInstanceOf[java.lang.reflect.InvocationTargetException]).getOrElse(e)
        ErrorOutput("Error", String.valueOf(cause.getMessage), Output.stackLines(cause))
    }
  }

  /** A row as a JSON array; nested structs become objects keyed by field name. */
  private def rowToJson(row: Row, schema: StructType): JsonNode =
    Json.arr(row.toSeq.zip(schema.fields).map { case (v, f) => cell(v, Some(f.dataType)) })

  private def cell(v: Any, dataType: Option[org.apache.spark.sql.types.DataType]): Any = v match {
    case null => null
    case r: Row =>
      val st = dataType.collect { case s: StructType => s }.orElse(Option(r.schema))
      st match {
        case Some(s) => Json.obj(s.fields.toSeq.zip(r.toSeq).map { case (f, x) => f.name -> cell(x, Some(f.dataType)) }: _*)
        case None => Json.arr(r.toSeq.map(cell(_, None)))
      }
    case m: scala.collection.Map[_, _] => Json.obj(m.toSeq.map { case (k, x) => String.valueOf(k) -> cell(x, None) }: _*)
    case bytes: Array[Byte] => Json.value(bytes)
    case s: scala.collection.Seq[_] => Json.arr(s.map(cell(_, None)))
    // Dates, timestamps, intervals: their string forms are what Livy clients display.
    case d: java.util.Date => d.toString
    case t: java.time.temporal.Temporal => t.toString
    case other => other
  }

  def cancel(sid: Long): Unit = ()
  def interruptible: Boolean = true
  def complete(code: String, cursor: Int): Seq[String] = Nil
  def close(): Unit = ()
}
