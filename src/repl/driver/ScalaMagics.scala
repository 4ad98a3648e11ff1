package org.livyserver.repl

import scala.collection.JavaConverters._
import scala.util.control.NonFatal

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper}
import com.fasterxml.jackson.databind.node.ArrayNode
import com.fasterxml.jackson.module.scala.DefaultScalaModule

import org.apache.spark.rdd.RDD

/**
 * Livy's Scala magics: a line `%json name` or `%table name` shows a value as application/json
 * or as a Livy table (an RDD shows its first 10 elements). Other lines run as Scala, in chunks;
 * text output of consecutive chunks is concatenated, an error stops the statement.
 */
object ScalaMagics {
  private val Magic = "^%(\\w+)\\W*(.*)$".r
  private lazy val mapper = new ObjectMapper().registerModule(DefaultScalaModule)

  def run(code: String, interpret: String => Output, valueOf: String => Option[Any]): Output = {
    val chunks = split(code)
    var last: Output = Output.text("")
    for (chunk <- chunks) {
      val out = chunk match {
        case Left((magic, arg)) => runMagic(magic, arg.trim, valueOf)
        case Right(scala) => interpret(scala)
      }
      last = (last, out) match {
        case (_, e: ErrorOutput) => return e
        case (OkOutput(prev), OkOutput(cur)) if isText(prev) && isText(cur) =>
          Output.text(prev.get(Output.TextPlain).asText() + cur.get(Output.TextPlain).asText())
        case (_, cur) => cur
      }
    }
    last
  }

  private def isText(data: com.fasterxml.jackson.databind.node.ObjectNode): Boolean =
    data.size() == 1 && data.has(Output.TextPlain)

  /** Left = a magic line (name, argument); Right = a run of ordinary lines. */
  private def split(code: String): Seq[Either[(String, String), String]] = {
    val out = Seq.newBuilder[Either[(String, String), String]]
    val pending = new StringBuilder
    def flush(): Unit = if (pending.nonEmpty) { out += Right(pending.toString); pending.clear() }
    code.split("\n", -1).foreach {
      case Magic(magic, arg) => flush(); out += Left((magic, arg))
      case line => if (pending.nonEmpty) pending.append('\n'); pending.append(line)
    }
    flush()
    out.result()
  }

  private def runMagic(magic: String, name: String, valueOf: String => Option[Any]): Output = {
    if (magic != "json" && magic != "table") return ErrorOutput("UnknownMagic", s"Unknown magic command $magic", Nil)
    val value = try valueOf(name) catch { case NonFatal(_) => None }
    val shown = value match {
      case Some(rdd: RDD[_]) => rdd.take(10)
      case Some(v) => v
      case None => return ErrorOutput("NameError", s"Value $name does not exist", Nil)
    }
    val json = try mapper.valueToTree[JsonNode](shown) catch {
      case NonFatal(_) => return ErrorOutput("ValueError", "Failed to convert value into a JSON value", Nil)
    }
    if (magic == "json") Output.data(Output.ApplicationJson, json) else table(json)
  }

  private class TypesDoNotMatch extends Exception

  private def table(value: JsonNode): Output = {
    val rows: Seq[JsonNode] = value match {
      case a: ArrayNode => (0 until a.size()).map(a.get)
      case v => Seq(v)
    }
    val headers = scala.collection.mutable.LinkedHashMap[String, String]()
    try {
      val data = rows.map { row =>
        val cols: Seq[(String, JsonNode)] =
          if (row.isArray) (0 until row.size()).map(i => i.toString -> row.get(i))
          else if (row.isObject) row.fields().asScala.map(e => e.getKey -> e.getValue).toSeq
          else Seq("0" -> row)
        Json.arr(cols.map { case (k, v) =>
          val t = typeName(v)
          headers.get(k) match {
            case Some(existing) if existing != t => throw new TypesDoNotMatch
            case Some(_) =>
            case None => headers.put(k, t)
          }
          v
        })
      }
      val hs = headers.toSeq.map { case (k, t) => Json.obj("name" -> k, "type" -> t) }
      Output.data(Output.LivyTable, Json.obj("headers" -> Json.arr(hs), "data" -> Json.arr(data)))
    } catch {
      case _: TypesDoNotMatch => ErrorOutput("TypeError", "table rows have different types", Nil)
    }
  }

  private def typeName(v: JsonNode): String = {
    def same(items: Iterator[JsonNode]): Boolean =
      if (!items.hasNext) true else { val t = typeName(items.next()); items.forall(typeName(_) == t) }
    if (v == null || v.isNull || v.isMissingNode) "NULL_TYPE"
    else if (v.isBoolean) "BOOLEAN_TYPE"
    else if (v.isTextual) "STRING_TYPE"
    else if (v.isIntegralNumber) "BIGINT_TYPE"
    else if (v.isBigDecimal) "DECIMAL_TYPE"
    else if (v.isNumber) "DOUBLE_TYPE"
    else if (v.isArray) { if (same(v.elements().asScala)) "ARRAY_TYPE" else throw new TypesDoNotMatch }
    else if (v.isObject) { if (same(v.elements().asScala)) "MAP_TYPE" else throw new TypesDoNotMatch }
    else "STRING_TYPE"
  }
}
